/**
 * The CDC relay's drain target: PostgreSQL's WAL position when the
 * generators stopped. Every change committed before it is at or below it, so
 * a relay whose confirmed LSN reached it has sent them all to Kafka.
 *
 * @module
 */
import { createPgClient, type pg } from "../../pipelines/runtime/mod.ts";
import { type Lsn, parseLsn } from "./drain.ts";

/** `pg_current_wal_lsn()` on `client`, as a 64-bit number. */
export async function currentWalLsn(client: pg.Client): Promise<Lsn> {
  const r = await client.query<{ lsn: string }>(
    "SELECT pg_current_wal_lsn()::text AS lsn",
  );
  return parseLsn(r.rows[0].lsn);
}

/**
 * {@link currentWalLsn} through a short-lived connection; undefined when
 * PostgreSQL does not answer (the drain asks again at its next check).
 */
export async function readWalTarget(opts: {
  url: string;
  password?: string;
}): Promise<Lsn | undefined> {
  const client = createPgClient({
    url: opts.url,
    password: opts.password,
    applicationName: "start-drain",
  });
  try {
    await client.connect();
    return await currentWalLsn(client);
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}
