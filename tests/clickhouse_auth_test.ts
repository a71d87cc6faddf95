/**
 * The generated ClickHouse configs, proven on a throwaway `clickhouse-server`
 * (the 18.16 binary native mode runs) on spare ports with its own data
 * folder: `default` is refused without its password and accepted with it,
 * the read-only user reads but cannot INSERT, DROP or lift `readonly`, and
 * both `remote_servers` clusters authenticate. The shared cluster is not
 * touched: no ZooKeeper, no DDL queue, ports 28123/29000.
 */
import assert from "node:assert/strict";
import { requirePermissions } from "./_gate.ts";
import { clickhouseConfig, clickhouseUsers } from "../tasks/cluster/configs.ts";
import {
  generateSecrets,
  nativeClickHouseAuth,
} from "../tasks/cluster/secrets.ts";
import { clickhouseAuthHeaders } from "../pipelines/runtime/credentials.ts";

requirePermissions(
  import.meta,
  { name: "run", command: "clickhouse-server" },
  { name: "run", command: "ps" },
  { name: "run", command: "kill" },
  { name: "write", path: ".data" },
  { name: "read", path: ".data" },
  { name: "net", host: "127.0.0.1:28123" },
);

const HTTP = 28123;
const TCP = 29000;
const URL_ = `http://127.0.0.1:${HTTP}/`;

/** Config for one standalone node: both clusters point at itself. */
function standalone(dir: string, s: ReturnType<typeof generateSecrets>) {
  const auth = nativeClickHouseAuth(s);
  const config = clickhouseConfig(
    {
      name: "authtest",
      shard: 1,
      httpPort: HTTP,
      tcpPort: TCP,
      interserverPort: 29009,
    },
    { data: `${dir}/data`, log: `${dir}/log`, errorLog: `${dir}/err.log` },
    auth.remote,
  )
    .replace(/<port>1900\d<\/port>/g, `<port>${TCP}</port>`)
    .replace(/<zookeeper>[\s\S]*?<\/zookeeper>/, "")
    .replace(/<distributed_ddl>[\s\S]*?<\/distributed_ddl>/, "");
  return { config, users: clickhouseUsers(auth.users) };
}

async function query(
  sql: string,
  login?: { username: string; password: string },
): Promise<{ status: number; body: string }> {
  const res = await fetch(URL_, {
    method: "POST",
    body: sql,
    headers: login ? clickhouseAuthHeaders(login) : {},
  });
  return { status: res.status, body: (await res.text()).trim() };
}

Deno.test({
  name:
    "generated users.xml/config.xml: passwords required, read-only user refused writes, clusters authenticate, nothing in ps",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await Deno.mkdir(".data/tests", { recursive: true });
    const dir = await Deno.realPath(
      await Deno.makeTempDir({ dir: ".data/tests", prefix: "chauth-" }),
    );
    const s = generateSecrets();
    const { config, users } = standalone(dir, s);
    await Deno.writeTextFile(`${dir}/config.xml`, config, { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/users.xml`, users, { mode: 0o600 });
    const server = new Deno.Command("clickhouse-server", {
      args: [`--config-file=${dir}/config.xml`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const admin = { username: s.adminUser, password: s.adminPassword };
    const ro = { username: s.readonlyUser, password: s.readonlyPassword };
    try {
      const deadline = Date.now() + 30_000;
      while (true) {
        const ok = await fetch(`${URL_}ping`).then(
          (r) => r.text().then((t) => t.startsWith("Ok")),
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) {
          const err = await Deno.readTextFile(`${dir}/err.log`).catch(() => "");
          throw new Error(
            `throwaway clickhouse-server never answered:\n${err}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }

      // A CSRF POST carries no credentials: refused.
      const anon = await query("DROP TABLE IF EXISTS system.one");
      assert.equal(anon.status, 401, anon.body);
      assert.match(anon.body, /Password required for user default/);
      const wrong = await query("SELECT 1", { ...admin, password: "nope" });
      assert.equal(wrong.status, 401, wrong.body);
      assert.deepEqual(await query("SELECT 1", admin), {
        status: 200,
        body: "1",
      });
      const made = await query(
        "CREATE TABLE default.t (x UInt8) ENGINE = MergeTree ORDER BY x",
        admin,
      );
      assert.equal(made.status, 200, made.body);

      // The read-only user reads, through both clusters too...
      assert.deepEqual(await query("SELECT count() FROM default.t", ro), {
        status: 200,
        body: "0",
      });
      assert.deepEqual(
        await query("SELECT count() FROM cluster('all_nodes', system.one)", ro),
        { status: 200, body: "4" },
      );
      assert.deepEqual(
        await query(
          "SELECT count() FROM cluster('analytics_cluster', system.one)",
          admin,
        ),
        { status: 200, body: "2" },
      );
      // ...with the dashboards' settings at their profile values...
      const settings = await query(
        "SELECT 1 SETTINGS skip_unavailable_shards = 1, prefer_localhost_replica = 0",
        ro,
      );
      assert.equal(settings.status, 200, settings.body);
      // ...and nothing else.
      for (
        const sql of [
          "INSERT INTO default.t VALUES (1)",
          "DROP TABLE default.t",
          "CREATE TABLE default.u (x UInt8) ENGINE = Memory",
          "SELECT 1 SETTINGS readonly = 0",
        ]
      ) {
        const r = await query(sql, ro);
        assert.equal(r.status, 500, `${sql}: ${r.body}`);
        assert.match(r.body, /readonly mode|Code: 164/, sql);
      }
      assert.deepEqual(await query("SELECT count() FROM default.t", admin), {
        status: 200,
        body: "0",
      });

      // What every user on the machine sees: no password on the command line.
      const ps = await new Deno.Command("ps", {
        args: ["-o", "args=", "-ww", "-p", String(server.pid)],
        stdout: "piped",
      }).output();
      const args = new TextDecoder().decode(ps.stdout);
      assert.match(args, /clickhouse-server --config-file=/);
      assert.ok(
        !args.includes(s.adminPassword) && !args.includes(s.readonlyPassword),
      );
      // And the configs hold only hashes, apart from remote_servers (0600).
      assert.ok(!users.includes(s.adminPassword));
      assert.equal(Deno.statSync(`${dir}/config.xml`).mode! & 0o777, 0o600);
    } finally {
      await new Deno.Command("kill", { args: ["-TERM", String(server.pid)] })
        .output();
      await server.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
