/**
 * Health probes per service kind (network only, so they work the same for
 * native processes and compose containers).
 *
 * @module
 */

import pg from "pg";
import {
  ALERTMANAGER,
  CLICKHOUSE_NODES,
  HAPROXY,
  HOST,
  KAFKA_BROKERS,
  POSTGRES,
  POSTGRES_EXPORTER,
  PROMETHEUS,
  type Service,
  ZOOKEEPER,
} from "../../schemas/topology.ts";

/** Result of one probe. */
export interface Health {
  /** Healthy or not. */
  healthy: boolean;
  /** Short human explanation. */
  detail: string;
}

const TIMEOUT_MS = 4000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function tcpExchange(
  port: number,
  request: Uint8Array,
  minBytes: number,
): Promise<Uint8Array> {
  const conn = await withTimeout(
    Deno.connect({ hostname: HOST, port }),
    TIMEOUT_MS,
    "connect",
  );
  try {
    const io = async () => {
      await conn.write(request);
      const chunks: Uint8Array[] = [];
      let total = 0;
      const buf = new Uint8Array(65536);
      while (total < minBytes) {
        const n = await conn.read(buf);
        if (n === null) break;
        chunks.push(buf.slice(0, n));
        total += n;
      }
      const out = new Uint8Array(total);
      let off = 0;
      for (const c of chunks) {
        out.set(c, off);
        off += c.length;
      }
      return out;
    };
    return await withTimeout(io(), TIMEOUT_MS, "read");
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const conn = await withTimeout(
      Deno.connect({ hostname: HOST, port }),
      TIMEOUT_MS,
      "connect",
    );
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function zookeeperProbe(): Promise<Health> {
  // `srvr` (unlike `ruok`) tells whether the server actually serves requests.
  const res = await tcpExchange(
    ZOOKEEPER.clientPort,
    new TextEncoder().encode("srvr"),
    1 << 16,
  );
  const text = new TextDecoder().decode(res);
  const mode = text.match(/^Mode: (\S+)/m);
  return mode ? { healthy: true, detail: `serving (${mode[1]})` } : {
    healthy: false,
    detail: text.trim().split("\n")[0].slice(0, 80) || "no answer",
  };
}

/**
 * Kafka Metadata v4 request (no topics) sent to one broker; returns the
 * broker ids it reports as alive (registered and unfenced).
 */
export async function kafkaAliveBrokers(port: number): Promise<number[]> {
  const clientId = new TextEncoder().encode("cluster-health");
  const body = new Uint8Array(4 + 2 + 2 + 4 + 2 + clientId.length + 4 + 1);
  const dv = new DataView(body.buffer);
  let o = 0;
  dv.setInt32(o, body.length - 4);
  o += 4;
  dv.setInt16(o, 3); // api_key Metadata
  o += 2;
  dv.setInt16(o, 4); // api_version
  o += 2;
  dv.setInt32(o, 7); // correlation id
  o += 4;
  dv.setInt16(o, clientId.length);
  o += 2;
  body.set(clientId, o);
  o += clientId.length;
  dv.setInt32(o, 0); // topics: empty array -> brokers only
  o += 4;
  dv.setInt8(o, 0); // allow_auto_topic_creation=false
  const conn = await withTimeout(
    Deno.connect({ hostname: HOST, port }),
    TIMEOUT_MS,
    "connect",
  );
  try {
    const read = async () => {
      await conn.write(body);
      let buf = new Uint8Array(0);
      const chunk = new Uint8Array(65536);
      while (
        buf.length < 4 || buf.length < 4 + new DataView(buf.buffer).getInt32(0)
      ) {
        const n = await conn.read(chunk);
        if (n === null) throw new Error("connection closed");
        const next = new Uint8Array(buf.length + n);
        next.set(buf);
        next.set(chunk.subarray(0, n), buf.length);
        buf = next;
      }
      return buf;
    };
    const res = await withTimeout(read(), TIMEOUT_MS, "metadata");
    const r = new DataView(res.buffer);
    let p = 4 + 4 + 4; // size, correlation id, throttle_time_ms
    const count = r.getInt32(p);
    p += 4;
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(r.getInt32(p));
      p += 4;
      const hostLen = r.getInt16(p);
      p += 2 + hostLen + 4;
      const rackLen = r.getInt16(p);
      p += 2 + (rackLen > 0 ? rackLen : 0);
    }
    return ids;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function kafkaProbe(svc: Service): Promise<Health> {
  const broker = KAFKA_BROKERS.find((b) => b.name === svc.name)!;
  const alive = await kafkaAliveBrokers(broker.port);
  if (!alive.includes(broker.nodeId)) {
    return {
      healthy: false,
      detail: `serving, not yet registered (alive: ${
        alive.join(",") || "none"
      })`,
    };
  }
  return { healthy: true, detail: `alive brokers ${alive.sort().join(",")}` };
}

async function httpProbe(
  url: string,
  expect?: (body: string) => boolean,
): Promise<Health> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const body = await res.text();
  if (!res.ok) return { healthy: false, detail: `HTTP ${res.status}` };
  if (expect && !expect(body)) {
    return { healthy: false, detail: `unexpected body: ${body.slice(0, 60)}` };
  }
  return { healthy: true, detail: `HTTP ${res.status}` };
}

async function postgresProbe(): Promise<Health> {
  const client = new pg.Client({
    host: HOST,
    port: POSTGRES.port,
    user: POSTGRES.user,
    password: POSTGRES.password,
    database: "postgres",
    connectionTimeoutMillis: TIMEOUT_MS,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const r = await client.query("SHOW wal_level");
    return { healthy: true, detail: `wal_level=${r.rows[0].wal_level}` };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Probe one service. Never throws. */
export async function probe(svc: Service): Promise<Health> {
  try {
    switch (svc.kind) {
      case "zookeeper":
        return await zookeeperProbe();
      case "kafka":
        return await kafkaProbe(svc);
      case "clickhouse": {
        const node = CLICKHOUSE_NODES.find((n) => n.name === svc.name)!;
        return await httpProbe(
          `http://${HOST}:${node.httpPort}/ping`,
          (b) => b.startsWith("Ok"),
        );
      }
      case "haproxy":
        return await httpProbe(
          `http://${HOST}:${HAPROXY.port}/ping`,
          (b) => b.startsWith("Ok"),
        );
      case "postgres":
        return await postgresProbe();
      case "postgres_exporter":
        return await httpProbe(
          `http://${HOST}:${POSTGRES_EXPORTER.port}/metrics`,
        );
      case "prometheus":
        return await httpProbe(`http://${HOST}:${PROMETHEUS.port}/-/ready`);
      case "alertmanager":
        return await httpProbe(`http://${HOST}:${ALERTMANAGER.port}/-/ready`);
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { healthy: false, detail: msg.split("\n")[0].slice(0, 80) };
  }
}
