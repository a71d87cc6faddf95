/**
 * One function per kind of security event: each fills the reused
 * {@link Fields} of the event being built. Background noise and attack
 * bursts use the same fillers, so an event type looks the same wherever it
 * comes from. The source port (`sport`) is drawn by the caller.
 *
 * The order of random draws is part of the output (same seed → same bytes):
 * a filler draws in the order it is written.
 *
 * @module
 */
import type { Rng } from "../prng.ts";
import {
  ESCALATION,
  type Host,
  MALWARE,
  MALWARE_FILES,
  type Pools,
  SERVICE_PORTS,
  SQLI,
  TUNNEL_DOMAINS,
  WEB_PATHS,
  XSS,
} from "./security_catalog.ts";

/** The mutable fields of the event being built (one object, reused). */
export interface Fields {
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

/** Empty fields. */
export function newFields(): Fields {
  return {
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
}

/** A protocol and its port, e.g. `["ssh", 22]`. */
export type Service = readonly [string, number];

/**
 * A login (`auth_success` / `auth_failure`) of `user` from `src` to
 * `server`. The message reads "<verb> for <user> from <src> port <sport>"
 * followed by `suffix`.
 */
export function fillLogin(
  f: Fields,
  type: "auth_success" | "auth_failure",
  verb: string,
  src: string,
  server: Host,
  service: Service,
  user: string,
  severity: string,
  action: string,
  scenario: string,
  suffix: string,
): void {
  f.type = type;
  f.src = src;
  f.dst = server.ip;
  f.dport = service[1];
  f.proto = service[0];
  f.user = user;
  f.host = server.name;
  f.severity = severity;
  f.action = action;
  f.scenario = scenario;
  f.message = verb + " for " + user + " from " + src + " port " + f.sport +
    suffix;
}

/** The edge firewall denies `src` a connection to a server. */
export function fillFirewallBlock(
  f: Fields,
  rng: Rng,
  p: Pools,
  src: string,
  scenario: string,
): void {
  const target = rng.pick(p.servers);
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

/** One SYN probe of a port scan (`first`: the probe that is detected). */
export function fillPortProbe(
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

/** The IDS reports a brute force after `failures` failed logins. */
export function fillBruteDetected(
  f: Fields,
  src: string,
  server: Host,
  user: string,
  service: Service,
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

/** An SQL injection or XSS request against a web server. */
export function fillWebAttack(
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

/** Malware found on a workstation; returns whether it was quarantined. */
export function fillMalware(
  f: Fields,
  rng: Rng,
  p: Pools,
  ws: Host,
  scenario: string,
): boolean {
  const quarantined = rng.float() < 0.7;
  const https = rng.float() < 0.8;
  f.type = "malware_detected";
  f.src = ws.ip;
  f.dst = rng.pick(p.external);
  f.dport = https ? 443 : 80;
  f.proto = https ? "https" : "http";
  f.user = rng.pick(p.users);
  f.host = ws.name;
  f.severity = "critical";
  f.action = quarantined ? "quarantined" : "detected";
  f.scenario = scenario;
  f.message = rng.pick(MALWARE) + " detected in " + rng.pick(MALWARE_FILES) +
    " on " + ws.name + (quarantined ? ", file quarantined" : "");
  return quarantined;
}

/** DNS tunnelling from a workstation. */
export function fillTunnel(
  f: Fields,
  rng: Rng,
  p: Pools,
  ws: Host,
  scenario: string,
): void {
  f.type = "dns_tunneling";
  f.src = ws.ip;
  f.dst = rng.pick(p.dnsServers);
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

/** A large upload from `from` to an outside address. */
export function fillExfiltration(
  f: Fields,
  rng: Rng,
  p: Pools,
  from: Host,
  scenario: string,
): void {
  const blocked = rng.float() < 0.5;
  f.type = "data_exfiltration";
  f.src = from.ip;
  f.dst = rng.pick(p.external);
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

/** `user` gains root on `server`, coming from workstation `ws`. */
export function fillEscalation(
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
