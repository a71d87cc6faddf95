/**
 * The security model's catalogs: the names, payloads and weights events are
 * made of, and the host/user/address pools built once per model. Every
 * string here is checked once to need no JSON escaping, so the model can
 * splice them into lines raw.
 *
 * @module
 */
import type { Rng } from "../prng.ts";
import { assertJsonSafe } from "./mod.ts";

/** A machine: host name and IP. */
export interface Host {
  name: string;
  ip: string;
}

/** The pools events draw from (fixed for a model). */
export interface Pools {
  servers: Host[];
  webServers: Host[];
  workstations: Host[];
  external: string[];
  attackers: string[];
  users: string[];
  targetUsers: string[];
  dnsServers: string[];
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
/** Malware family names. */
export const MALWARE = [
  "Emotet",
  "TrickBot",
  "AgentTesla",
  "Qakbot",
  "Cobalt Strike beacon",
  "Mimikatz",
  "RedLine stealer",
  "XMRig miner",
];
/** Paths malware is found at. */
export const MALWARE_FILES = [
  "/tmp/.cache/update.bin",
  "/home/shared/invoice.pdf.exe",
  "/var/tmp/kworker",
  "/Users/Public/Downloads/setup.msi",
  "/opt/app/plugins/libhelper.so",
];
/** SQL injection payloads (quotes as backticks: no JSON escaping). */
export const SQLI = [
  "' OR 1=1 --",
  "UNION SELECT username,password FROM users",
  "; DROP TABLE orders; --",
  "admin'--",
  "1 AND SLEEP(5)",
].map((s) => s.replaceAll("'", "`"));
/** Cross-site scripting payloads. */
export const XSS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(document.cookie)>",
  "javascript:alert(1)",
  "<svg onload=fetch(//evil)>",
];
/** Paths web attacks aim at. */
export const WEB_PATHS = [
  "/login",
  "/search",
  "/api/v1/products",
  "/api/v1/orders",
  "/account/profile",
  "/cart",
];
/** Ways a privilege escalation is done. */
export const ESCALATION = [
  "sudo misconfiguration",
  "CVE-2021-4034 pkexec",
  "SUID binary abuse",
  "token impersonation",
  "kernel exploit",
];
/** Domains DNS tunnels talk to. */
export const TUNNEL_DOMAINS = [
  "cdn-sync.xyz",
  "telemetry-update.top",
  "a1b2c3.dnslog.cn",
  "api-metrics.click",
];
/** Background event types and their weights. */
export const NOISE_TYPES: Array<[string, number]> = [
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
/** Protocol and port of ordinary traffic. */
export const SERVICE_PORTS: Array<[string, number]> = [
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
/** Protocol and port of login services. */
export const LOGIN_SERVICES: Array<[string, number]> = [
  ["ssh", 22],
  ["rdp", 3389],
  ["https", 443],
];

/** A random public (not private, loopback or link-local) IPv4 address. */
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

/** Builds the pools from `rng` (deterministic for a seed); checks they need no JSON escaping. */
export function buildPools(rng: Rng): Pools {
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
