/**
 * The enumerations of the event data contract (see `schemas/events/*.json`),
 * written once: the generator produces them, the sink validates against
 * them, benchmarks build events from them.
 *
 * @module
 */

/** `event_type` of a security event. */
export const SECURITY_EVENT_TYPES = [
  "auth_success",
  "auth_failure",
  "brute_force",
  "port_scan",
  "malware_detected",
  "privilege_escalation",
  "firewall_block",
  "firewall_allow",
  "data_exfiltration",
  "sql_injection",
  "xss_attempt",
  "dns_tunneling",
] as const;

/** `severity` of a security event. */
export const SEVERITIES = [
  "info",
  "low",
  "medium",
  "high",
  "critical",
] as const;

/** `protocol` of a security event. */
export const PROTOCOLS = [
  "tcp",
  "udp",
  "icmp",
  "http",
  "https",
  "ssh",
  "dns",
  "smb",
  "rdp",
] as const;

/** `action` of a security event. */
export const ACTIONS = [
  "allowed",
  "blocked",
  "detected",
  "quarantined",
  "logged",
] as const;

/** `service` of an HTTP service log (topic `logs.<service>`). */
export const HTTP_SERVICES = ["auth", "order", "payment", "notify"] as const;

/** `method` of an HTTP service log. */
export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

/** `level` of an HTTP service log: error iff status >= 500, warn iff 4xx. */
export const HTTP_LEVELS = ["info", "warn", "error"] as const;
