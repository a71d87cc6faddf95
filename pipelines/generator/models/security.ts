/**
 * Security events like an IDS / auth / firewall log. Most events are
 * background noise (logins, firewall decisions, the odd single detection);
 * a configurable share belongs to attack scenarios that come in bursts from
 * one source and share a `scenario_id`: brute force (many `auth_failure`
 * from one IP, a `brute_force` detection, maybe an `auth_success`), port
 * scans over many destination ports, web attacks (SQL injection / XSS),
 * malware outbreaks (detection, DNS tunnelling, exfiltration) and insider
 * privilege escalation.
 *
 * Every string that goes into a line comes from pools checked once to need
 * no JSON escaping, so lines are built by concatenation, not
 * `JSON.stringify` — the difference between ~60k and >200k events/s.
 *
 * @module
 */
import { SECURITY_EVENT_TYPES } from "../../runtime/contract.ts";
import { type Rng, WeightedPicker } from "../prng.ts";
import { IsoFormatter } from "../clock.ts";
import { assertJsonSafe, type EventModel, type EventSlot } from "./mod.ts";

/** Event types of the data contract. */
export const EVENT_TYPES = SECURITY_EVENT_TYPES;

/** Options of {@link SecurityModel}. */
export interface SecurityOptions {
  /** Share of events (0..1) that belong to attack bursts. Default 0.25. */
  attackRatio?: number;
  /** Attack bursts in progress at the same time, interleaved. Default 4. */
  maxConcurrentAttacks?: number;
}

/** The mutable fields of the event being built (one object, reused). */
interface Fields {
  type: string;
  severity: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: string;
  user: string;
  host: string;
  action: string;
  message: string;
  scenario: string;
}

interface Host {
  name: string;
  ip: string;
}

interface Pools {
  servers: Host[];
  webServers: Host[];
  workstations: Host[];
  external: string[];
  attackers: string[];
  users: string[];
  targetUsers: string[];
  dnsServers: string[];
}

/** One attack burst; `step` fills the next event, returns true when done. */
interface Scenario {
  step(f: Fields, rng: Rng): boolean;
}

const FIRST = ["j", "m", "a", "d", "s", "k", "r", "e", "l", "t", "p", "n"];
const LAST = [
  "smith",
  "jones",
  "garcia",
  "miller",
  "davis",
  "lopez",
  "wilson",
  "moore",
  "taylor",
  "thomas",
  "white",
  "harris",
  "martin",
  "clark",
  "lewis",
  "walker",
  "young",
  "king",
];
const TARGET_USERS = [
  "admin",
  "root",
  "administrator",
  "oracle",
  "postgres",
  "deploy",
  "test",
  "guest",
  "svc_backup",
  "ubuntu",
];
const SERVER_ROLES = [
  "web",
  "api",
  "db",
  "mail",
  "vpn",
  "file",
  "dc",
  "app",
  "cache",
  "k8s-node",
];
const MALWARE = [
  "Emotet",
  "TrickBot",
  "AgentTesla",
  "Qakbot",
  "Cobalt Strike beacon",
  "Mimikatz",
  "RedLine stealer",
  "XMRig miner",
];
const MALWARE_FILES = [
  "/tmp/.cache/update.bin",
  "/home/shared/invoice.pdf.exe",
  "/var/tmp/kworker",
  "/Users/Public/Downloads/setup.msi",
  "/opt/app/plugins/libhelper.so",
];
const SQLI = [
  "' OR 1=1 --",
  "UNION SELECT username,password FROM users",
  "; DROP TABLE orders; --",
  "admin'--",
  "1 AND SLEEP(5)",
].map((s) => s.replaceAll("'", "`"));
const XSS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(document.cookie)>",
  "javascript:alert(1)",
  "<svg onload=fetch(//evil)>",
];
const WEB_PATHS = [
  "/login",
  "/search",
  "/api/v1/products",
  "/api/v1/orders",
  "/account/profile",
  "/cart",
];
const ESCALATION = [
  "sudo misconfiguration",
  "CVE-2021-4034 pkexec",
  "SUID binary abuse",
  "token impersonation",
  "kernel exploit",
];
const TUNNEL_DOMAINS = [
  "cdn-sync.xyz",
  "telemetry-update.top",
  "a1b2c3.dnslog.cn",
  "api-metrics.click",
];
const NOISE_TYPES: Array<[string, number]> = [
  ["auth_success", 28],
  ["firewall_allow", 30],
  ["firewall_block", 16],
  ["auth_failure", 12],
  ["malware_detected", 1],
  ["sql_injection", 2],
  ["xss_attempt", 2],
  ["port_scan", 2],
  ["privilege_escalation", 0.5],
  ["data_exfiltration", 0.3],
  ["dns_tunneling", 0.4],
  ["brute_force", 0.3],
];
const SCENARIOS: Array<[string, number]> = [
  ["brute_force", 35],
  ["port_scan", 25],
  ["web_attack", 20],
  ["malware", 10],
  ["insider", 10],
];
const SERVICE_PORTS: Array<[string, number]> = [
  ["https", 443],
  ["http", 80],
  ["ssh", 22],
  ["dns", 53],
  ["smb", 445],
  ["rdp", 3389],
  ["tcp", 8443],
  ["tcp", 5432],
  ["udp", 123],
];
const LOGIN_SERVICES: Array<[string, number]> = [
  ["ssh", 22],
  ["rdp", 3389],
  ["https", 443],
];

function publicIp(rng: Rng): string {
  for (;;) {
    const a = rng.range(1, 223);
    const b = rng.int(256);
    if (a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32)) continue;
    if (a === 192 && b === 168) continue;
    if (a === 169 && b === 254) continue;
    return `${a}.${b}.${rng.int(256)}.${rng.range(1, 254)}`;
  }
}

function buildPools(rng: Rng): Pools {
  const servers: Host[] = [];
  SERVER_ROLES.forEach((role, r) => {
    for (let i = 1; i <= 8; i++) {
      servers.push({
        name: `${role}-${String(i).padStart(2, "0")}`,
        ip: `10.0.${r + 1}.${10 + i}`,
      });
    }
  });
  const workstations: Host[] = [];
  for (let i = 1; i <= 400; i++) {
    workstations.push({
      name: `ws-${String(i).padStart(4, "0")}`,
      ip: `10.20.${Math.floor(i / 250)}.${(i % 250) + 2}`,
    });
  }
  const external = Array.from({ length: 4000 }, () => publicIp(rng));
  const attackers = Array.from({ length: 250 }, () => publicIp(rng));
  const users: string[] = [];
  for (const l of LAST) for (const f of FIRST) users.push(`${f}${l}`);
  const pools: Pools = {
    servers,
    webServers: servers.filter((s) =>
      s.name.startsWith("web") || s.name.startsWith("api")
    ),
    workstations,
    external,
    attackers,
    users,
    targetUsers: [...TARGET_USERS, ...users.slice(0, 10)],
    dnsServers: ["8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222"],
  };
  assertJsonSafe(
    [
      ...users,
      ...TARGET_USERS,
      ...MALWARE,
      ...MALWARE_FILES,
      ...SQLI,
      ...XSS,
      ...WEB_PATHS,
      ...ESCALATION,
      ...TUNNEL_DOMAINS,
    ],
    "security pool",
  );
  return pools;
}

/** The security event model (see module docs). */
export class SecurityModel implements EventModel {
  readonly kind = "security";
  readonly routes = ["security"] as const;
  readonly #rng: Rng;
  readonly #pools: Pools;
  readonly #attackRatio: number;
  readonly #maxActive: number;
  readonly #noise = new WeightedPicker(NOISE_TYPES.map(([, w]) => w));
  readonly #scenarioPicker = new WeightedPicker(SCENARIOS.map(([, w]) => w));
  readonly #active: Scenario[] = [];
  readonly #iso = new IsoFormatter();
  readonly #f: Fields = {
    type: "",
    severity: "",
    src: "",
    sport: 0,
    dst: "",
    dport: 0,
    proto: "",
    user: "",
    host: "",
    action: "",
    message: "",
    scenario: "",
  };

  /** Builds pools from `rng` (deterministic for a seed). */
  constructor(rng: Rng, opts: SecurityOptions = {}) {
    this.#rng = rng;
    this.#pools = buildPools(rng);
    this.#attackRatio = opts.attackRatio ?? 0.25;
    this.#maxActive = opts.maxConcurrentAttacks ?? 4;
  }

  /** Fills `slot` with the next event. */
  next(slot: EventSlot, ts: number): void {
    const rng = this.#rng;
    const f = this.#f;
    const id = rng.uuid();
    if (this.#attackRatio > 0 && rng.float() < this.#attackRatio) {
      const active = this.#active;
      if (
        active.length === 0 ||
        (active.length < this.#maxActive && rng.float() < 0.01)
      ) {
        active.push(this.#newScenario());
      }
      const i = rng.int(active.length);
      if (active[i].step(f, rng)) {
        active[i] = active[active.length - 1];
        active.pop();
      }
    } else {
      this.#fillNoise(f, rng);
    }
    slot.line = '{"event_id":"' + id + '","timestamp":"' +
      this.#iso.format(ts) + '","event_type":"' + f.type +
      '","severity":"' + f.severity + '","src_ip":"' + f.src +
      '","src_port":' + f.sport + ',"dst_ip":"' + f.dst + '","dst_port":' +
      f.dport + ',"protocol":"' + f.proto + '","user":"' + f.user +
      '","host":"' + f.host + '","action":"' + f.action + '","message":"' +
      f.message + '","scenario_id":"' + f.scenario + '"}';
    slot.key = f.src;
    slot.route = 0;
    slot.error = false;
  }

  #fillNoise(f: Fields, rng: Rng): void {
    const p = this.#pools;
    const type = NOISE_TYPES[this.#noise.pick(rng)][0];
    f.type = type;
    f.scenario = "";
    f.sport = rng.range(1024, 65535);
    switch (type) {
      case "auth_success":
      case "auth_failure": {
        const ok = type === "auth_success";
        const server = rng.pick(p.servers);
        const [proto, port] = rng.pick(LOGIN_SERVICES);
        f.src = rng.float() < 0.8
          ? rng.pick(p.workstations).ip
          : rng.pick(p.external);
        f.dst = server.ip;
        f.dport = port;
        f.proto = proto;
        f.user = rng.pick(p.users);
        f.host = server.name;
        f.severity = ok ? "info" : "low";
        f.action = ok ? "allowed" : "logged";
        f.message = (ok ? "Accepted password for " : "Failed password for ") +
          f.user + " from " + f.src + " port " + f.sport + " " + proto;
        return;
      }
      case "firewall_allow": {
        const ws = rng.pick(p.workstations);
        const [proto, port] = rng.pick(SERVICE_PORTS);
        f.src = ws.ip;
        f.dst = rng.pick(p.external);
        f.dport = port;
        f.proto = proto;
        f.user = "";
        f.host = "fw-edge-01";
        f.severity = "info";
        f.action = "allowed";
        f.message = "ALLOW " + proto + " " + f.src + ":" + f.sport + " -> " +
          f.dst + ":" + port;
        return;
      }
      case "firewall_block":
        this.#firewallBlock(f, rng, rng.pick(p.external), "");
        return;
      case "port_scan":
        this.#portProbe(
          f,
          rng.pick(p.external),
          rng.pick(p.servers),
          rng.range(1, 65535),
          "",
          true,
        );
        return;
      case "brute_force": {
        const server = rng.pick(p.servers);
        this.#bruteDetected(
          f,
          rng.pick(p.external),
          server,
          rng.pick(p.targetUsers),
          rng.pick(LOGIN_SERVICES),
          rng.range(10, 40),
          "",
        );
        return;
      }
      case "sql_injection":
      case "xss_attempt":
        this.#webAttack(
          f,
          rng,
          rng.pick(p.external),
          rng.pick(p.webServers),
          type,
          "",
        );
        return;
      case "malware_detected":
        this.#malware(f, rng, rng.pick(p.workstations), "");
        return;
      case "privilege_escalation":
        this.#escalation(
          f,
          rng,
          rng.pick(p.workstations),
          rng.pick(p.servers),
          rng.pick(p.users),
          "",
        );
        return;
      case "data_exfiltration":
        this.#exfiltration(f, rng, rng.pick(p.servers), "");
        return;
      default: // dns_tunneling
        this.#tunnel(f, rng, rng.pick(p.workstations), "");
        return;
    }
  }

  #firewallBlock(f: Fields, rng: Rng, src: string, scenario: string): void {
    const target = rng.pick(this.#pools.servers);
    const [proto, port] = rng.pick(SERVICE_PORTS);
    f.type = "firewall_block";
    f.src = src;
    f.dst = target.ip;
    f.dport = port;
    f.proto = proto;
    f.user = "";
    f.host = "fw-edge-01";
    f.severity = "low";
    f.action = "blocked";
    f.scenario = scenario;
    f.message = "DENY " + proto + " " + src + ":" + f.sport + " -> " + f.dst +
      ":" + port;
  }

  #portProbe(
    f: Fields,
    src: string,
    target: Host,
    port: number,
    scenario: string,
    first: boolean,
  ): void {
    f.type = "port_scan";
    f.src = src;
    f.dst = target.ip;
    f.dport = port;
    f.proto = "tcp";
    f.user = "";
    f.host = target.name;
    f.severity = first ? "medium" : "low";
    f.action = first ? "detected" : "blocked";
    f.scenario = scenario;
    f.message = "Port scan from " + src + ": SYN probe to " + target.ip + ":" +
      port + "/tcp";
  }

  #bruteDetected(
    f: Fields,
    src: string,
    server: Host,
    user: string,
    service: [string, number],
    failures: number,
    scenario: string,
  ): void {
    f.type = "brute_force";
    f.src = src;
    f.dst = server.ip;
    f.dport = service[1];
    f.proto = service[0];
    f.user = user;
    f.host = server.name;
    f.severity = "high";
    f.action = "detected";
    f.scenario = scenario;
    f.message = "Brute force against " + user + "@" + server.name + ": " +
      failures + " failed logins from " + src;
  }

  #webAttack(
    f: Fields,
    rng: Rng,
    src: string,
    server: Host,
    type: string,
    scenario: string,
  ): void {
    const https = rng.float() < 0.7;
    const sqli = type === "sql_injection";
    f.type = type;
    f.src = src;
    f.dst = server.ip;
    f.dport = https ? 443 : 80;
    f.proto = https ? "https" : "http";
    f.user = "";
    f.host = server.name;
    f.severity = sqli ? "high" : "medium";
    f.action = rng.float() < 0.85 ? "blocked" : "detected";
    f.scenario = scenario;
    f.message = (sqli ? "SQL injection pattern in " : "XSS payload in ") +
      (rng.float() < 0.5 ? "GET " : "POST ") + rng.pick(WEB_PATHS) + ": " +
      (sqli ? rng.pick(SQLI) : rng.pick(XSS));
  }

  #malware(f: Fields, rng: Rng, ws: Host, scenario: string): boolean {
    const quarantined = rng.float() < 0.7;
    const https = rng.float() < 0.8;
    f.type = "malware_detected";
    f.src = ws.ip;
    f.dst = rng.pick(this.#pools.external);
    f.dport = https ? 443 : 80;
    f.proto = https ? "https" : "http";
    f.user = rng.pick(this.#pools.users);
    f.host = ws.name;
    f.severity = "critical";
    f.action = quarantined ? "quarantined" : "detected";
    f.scenario = scenario;
    f.message = rng.pick(MALWARE) + " detected in " + rng.pick(MALWARE_FILES) +
      " on " + ws.name + (quarantined ? ", file quarantined" : "");
    return quarantined;
  }

  #tunnel(f: Fields, rng: Rng, ws: Host, scenario: string): void {
    f.type = "dns_tunneling";
    f.src = ws.ip;
    f.dst = rng.pick(this.#pools.dnsServers);
    f.dport = 53;
    f.proto = "dns";
    f.user = "";
    f.host = ws.name;
    f.severity = "high";
    f.action = "detected";
    f.scenario = scenario;
    f.message = "High-entropy DNS TXT queries to " + rng.pick(TUNNEL_DOMAINS) +
      " from " + ws.name + " (" + rng.range(40, 900) + " queries/min)";
  }

  #exfiltration(f: Fields, rng: Rng, from: Host, scenario: string): void {
    const blocked = rng.float() < 0.5;
    f.type = "data_exfiltration";
    f.src = from.ip;
    f.dst = rng.pick(this.#pools.external);
    f.dport = 443;
    f.proto = "https";
    f.user = "";
    f.host = from.name;
    f.severity = "critical";
    f.action = blocked ? "blocked" : "detected";
    f.scenario = scenario;
    f.message = rng.range(50, 4000) + " MB uploaded from " + from.name +
      " to " + f.dst + (blocked ? ", connection blocked" : "");
  }

  #escalation(
    f: Fields,
    rng: Rng,
    ws: Host,
    server: Host,
    user: string,
    scenario: string,
  ): void {
    f.type = "privilege_escalation";
    f.src = ws.ip;
    f.dst = server.ip;
    f.dport = 22;
    f.proto = "ssh";
    f.user = user;
    f.host = server.name;
    f.severity = "critical";
    f.action = "detected";
    f.scenario = scenario;
    f.message = "User " + user + " gained root on " + server.name + " via " +
      rng.pick(ESCALATION);
  }

  #newScenario(): Scenario {
    const rng = this.#rng;
    const p = this.#pools;
    const kind = SCENARIOS[this.#scenarioPicker.pick(rng)][0];
    switch (kind) {
      case "brute_force": {
        const sid = "bf-" + rng.hex(2);
        const src = rng.pick(p.attackers);
        const server = rng.pick(p.servers);
        const user = rng.pick(p.targetUsers);
        const service = rng.pick(LOGIN_SERVICES);
        const failures = rng.range(15, 150);
        const detectAt = 10;
        const succeeds = rng.float() < 0.25;
        let done = 0;
        let detected = false;
        return {
          step: (f, r) => {
            if (done === detectAt && !detected) {
              detected = true;
              this.#bruteDetected(f, src, server, user, service, done, sid);
              return false;
            }
            f.sport = r.range(1024, 65535);
            f.src = src;
            f.dst = server.ip;
            f.dport = service[1];
            f.proto = service[0];
            f.user = user;
            f.host = server.name;
            f.scenario = sid;
            if (done < failures) {
              done++;
              f.type = "auth_failure";
              f.severity = done > detectAt ? "medium" : "low";
              f.action = detected ? "blocked" : "logged";
              f.message = "Failed password for " + user + " from " + src +
                " port " + f.sport + " " + service[0] + " (attempt " + done +
                ")";
              return !succeeds && done === failures;
            }
            f.type = "auth_success";
            f.severity = "high";
            f.action = "allowed";
            f.message = "Accepted password for " + user + " from " + src +
              " port " + f.sport + " after " + failures + " failures";
            return true;
          },
        };
      }
      case "port_scan": {
        const sid = "ps-" + rng.hex(2);
        const src = rng.pick(p.attackers);
        const target = rng.pick(p.servers);
        const ports = rng.range(40, 400);
        const start = rng.range(1, 1024);
        const stride = rng.pick([1, 1, 1, 7, 13, 101]);
        let i = 0;
        return {
          step: (f, r) => {
            f.sport = r.range(1024, 65535);
            const port = ((start - 1 + i * stride) % 65535) + 1;
            this.#portProbe(f, src, target, port, sid, i === 0);
            i++;
            return i >= ports;
          },
        };
      }
      case "web_attack": {
        const sid = "wa-" + rng.hex(2);
        const src = rng.pick(p.attackers);
        const server = rng.pick(p.webServers);
        const total = rng.range(10, 60);
        const sqliShare = rng.float();
        let i = 0;
        return {
          step: (f, r) => {
            f.sport = r.range(1024, 65535);
            const type = r.float() < sqliShare
              ? "sql_injection"
              : "xss_attempt";
            this.#webAttack(f, r, src, server, type, sid);
            i++;
            return i >= total;
          },
        };
      }
      case "malware": {
        const sid = "mw-" + rng.hex(2);
        const ws = rng.pick(p.workstations);
        let phase = 0;
        let left = 0;
        return {
          step: (f, r) => {
            f.sport = r.range(1024, 65535);
            if (phase === 0) {
              const quarantined = this.#malware(f, r, ws, sid);
              // Quarantined: a few blocked C2 callbacks. Missed: tunnelling
              // then exfiltration.
              phase = quarantined ? 1 : 2;
              left = quarantined ? r.range(0, 3) : r.range(5, 25);
              return quarantined && left === 0;
            }
            if (phase === 1) {
              this.#firewallBlock(f, r, ws.ip, sid);
              f.dst = r.pick(p.external);
              f.severity = "high";
              f.message = "Blocked C2 callback from " + ws.name + " to " +
                f.dst + ":" + f.dport;
              return --left === 0;
            }
            if (phase === 2) {
              this.#tunnel(f, r, ws, sid);
              if (--left === 0) {
                phase = 3;
                left = r.range(1, 4);
              }
              return false;
            }
            this.#exfiltration(f, r, ws, sid);
            return --left === 0;
          },
        };
      }
      default: { // insider
        const sid = "in-" + rng.hex(2);
        const ws = rng.pick(p.workstations);
        const server = rng.pick(p.servers);
        const user = rng.pick(p.users);
        let phase = 0;
        let left = rng.range(2, 6);
        return {
          step: (f, r) => {
            f.sport = r.range(1024, 65535);
            if (phase === 0) {
              phase = 1;
              f.type = "auth_success";
              f.src = ws.ip;
              f.dst = server.ip;
              f.dport = 22;
              f.proto = "ssh";
              f.user = user;
              f.host = server.name;
              f.severity = "info";
              f.action = "allowed";
              f.scenario = sid;
              f.message = "Accepted publickey for " + user + " from " + ws.ip +
                " port " + f.sport + " ssh";
              return false;
            }
            if (phase === 1) {
              phase = 2;
              this.#escalation(f, r, ws, server, user, sid);
              return false;
            }
            this.#exfiltration(f, r, server, sid);
            f.user = user;
            return --left === 0;
          },
        };
      }
    }
  }
}
