import assert from "node:assert/strict";
import {
  CLICKHOUSE_NODES,
  POSTGRES,
  POSTGRES_URL,
} from "../../schemas/topology.ts";
import { needsPermissions } from "../../tests/_gate.ts";
import { clickhouseConfig, clickhouseUsers } from "./configs.ts";
import { privateDir, writeIfChanged } from "./paths.ts";
import {
  composeClickHouseAuth,
  composeSecretsEnv,
  ensureClusterSecrets,
  formatSecretsFile,
  generateSecrets,
  nativeClickHouseAuth,
  parseSecretsFile,
  prepareClusterState,
  sha256Hex,
} from "./secrets.ts";
import { maskPassword } from "./status.ts";

const WRITE = needsPermissions(
  { name: "write", path: ".data" },
  { name: "read", path: ".data" },
);

async function tempDir(): Promise<string> {
  await Deno.mkdir(".data/tests", { recursive: true });
  return await Deno.makeTempDir({ dir: ".data/tests", prefix: "secrets-" });
}

const mode = (p: string) => Deno.statSync(p).mode! & 0o777;
const paths = { data: "/d", log: "/l", errorLog: "/e" };

Deno.test("secrets: random, distinct, 32 URL/XML/shell-safe characters; the file round-trips", () => {
  const a = generateSecrets();
  const b = generateSecrets();
  for (const p of [a.adminPassword, a.readonlyPassword]) {
    assert.match(p, /^[A-Za-z0-9_-]{32}$/);
  }
  assert.notEqual(a.adminPassword, a.readonlyPassword);
  assert.notEqual(a.adminPassword, b.adminPassword);
  assert.deepEqual(parseSecretsFile(formatSecretsFile(a)), a);
  assert.equal(parseSecretsFile("CLICKHOUSE_PASSWORD=x\n"), undefined);
  // echo -n abc | sha256sum
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("secrets: users.xml holds only hashes; remote_servers authenticates both clusters", () => {
  const s = generateSecrets();
  const auth = nativeClickHouseAuth(s);
  const users = clickhouseUsers(auth.users);
  assert.ok(
    !users.includes(s.adminPassword) && !users.includes(s.readonlyPassword),
  );
  assert.match(
    users,
    new RegExp(`<password_sha256_hex>${sha256Hex(s.adminPassword)}<`),
  );
  assert.match(
    users,
    new RegExp(
      `<dashboards>\\s*<password_sha256_hex>${
        sha256Hex(s.readonlyPassword)
      }<[\\s\\S]*<profile>readonly</profile>`,
    ),
  );
  assert.match(users, /<readonly>\s*<readonly>2<\/readonly>/);
  assert.doesNotMatch(users, /<password><\/password>/, "no empty password");
  const config = clickhouseConfig(CLICKHOUSE_NODES[0], paths, auth.remote);
  const servers = /<remote_servers>[\s\S]*<\/remote_servers>/.exec(config)![0];
  const replicas = servers.match(/<replica>[\s\S]*?<\/replica>/g)!;
  assert.equal(replicas.length, 2 * CLICKHOUSE_NODES.length); // both clusters
  assert.equal(
    replicas.filter((r) =>
      r.includes("<user>default</user>") &&
      r.includes(`<password>${s.adminPassword}</password>`)
    ).length,
    CLICKHOUSE_NODES.length,
  );
  assert.match(
    config,
    new RegExp(
      `<all_nodes>[\\s\\S]*<user>dashboards</user>\\s*<password>${s.readonlyPassword}</password>`,
    ),
  );
});

Deno.test("secrets: no secrets (a cluster from before passwords) renders the old passwordless user", () => {
  const auth = nativeClickHouseAuth(undefined);
  assert.match(
    clickhouseUsers(auth.users),
    /<default>\s*<password><\/password>/,
  );
  assert.equal(auth.remote, undefined);
});

Deno.test("secrets: compose configs take every password from the container env, none committed", () => {
  const auth = composeClickHouseAuth();
  const users = clickhouseUsers(auth.users);
  const config = clickhouseConfig(CLICKHOUSE_NODES[0], paths, auth.remote);
  assert.match(
    users,
    /<password_sha256_hex from_env="CH_ADMIN_PASSWORD_SHA256"\/>/,
  );
  assert.match(
    users,
    /<password_sha256_hex from_env="CH_READONLY_PASSWORD_SHA256"\/>/,
  );
  assert.match(config, /<password from_env="CH_ADMIN_PASSWORD"\/>/);
  assert.match(config, /<password from_env="CH_READONLY_PASSWORD"\/>/);
  const s = generateSecrets();
  const env = composeSecretsEnv(s);
  assert.equal(env.CLICKHOUSE_PASSWORD_SHA256, sha256Hex(s.adminPassword));
  assert.equal(env.CLICKHOUSE_READONLY_PASSWORD, s.readonlyPassword);
});

Deno.test("status: the PostgreSQL URL is printed with its password masked", () => {
  const masked = maskPassword(POSTGRES_URL);
  assert.ok(!masked.includes(`:${POSTGRES.password}@`), masked);
  assert.match(
    masked,
    /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:15432\/shop$/,
  );
  assert.equal(
    maskPassword("http://127.0.0.1:18120"),
    "http://127.0.0.1:18120",
  );
});

Deno.test(
  "secrets: the file is created 0600 in a 0700 folder, kept on the next run, and tightened",
  WRITE,
  async () => {
    const dir = await tempDir();
    try {
      const state = `${dir}/state`;
      const first = await prepareClusterState(state, false);
      assert.equal(first.created, true);
      assert.equal(mode(state), 0o700);
      assert.equal(mode(`${state}/secrets.env`), 0o600);
      Deno.chmodSync(`${state}/secrets.env`, 0o644);
      const again = await ensureClusterSecrets(`${state}/secrets.env`);
      assert.equal(again.created, false);
      assert.deepEqual(again.secrets, first.secrets, "passwords kept");
      assert.equal(mode(`${state}/secrets.env`), 0o600, "tightened");
      // Root runs PostgreSQL as its own user: it must traverse .cluster/.
      await prepareClusterState(state, true);
      assert.equal(mode(state), 0o711);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "paths: a secret file is 0600 even when unchanged from a 0644 run; service folders 0700",
  WRITE,
  async () => {
    const dir = await tempDir();
    try {
      const f = `${dir}/alertmanager.yml`;
      Deno.writeTextFileSync(f, "x");
      Deno.chmodSync(f, 0o644);
      assert.equal(await writeIfChanged(f, "x", 0o600), false);
      assert.equal(mode(f), 0o600);
      assert.equal(await writeIfChanged(`${dir}/new.yml`, "y", 0o600), true);
      assert.equal(mode(`${dir}/new.yml`), 0o600);
      await privateDir(`${dir}/svc`);
      assert.equal(mode(`${dir}/svc`), 0o700);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
