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
 * Files: `security_catalog.ts` (names, payloads, pools),
 * `security_fill.ts` (one filler per event type), `security_bursts.ts`
 * (the attack scenarios), and this model, which mixes noise and bursts and
 * writes the line.
 *
 * @module
 */
import { SECURITY_EVENT_TYPES } from "../../runtime/contract.ts";
import { type Rng, WeightedPicker } from "../prng.ts";
import { IsoFormatter } from "../clock.ts";
import type { EventModel, EventSlot } from "./mod.ts";
import { type Burst, BurstFactory } from "./security_bursts.ts";
import {
  buildPools,
  LOGIN_SERVICES,
  NOISE_TYPES,
  type Pools,
  SERVICE_PORTS,
} from "./security_catalog.ts";
import {
  type Fields,
  fillBruteDetected,
  fillEscalation,
  fillExfiltration,
  fillFirewallBlock,
  fillLogin,
  fillMalware,
  fillPortProbe,
  fillTunnel,
  fillWebAttack,
  newFields,
} from "./security_fill.ts";

/** Event types of the data contract. */
export const EVENT_TYPES = SECURITY_EVENT_TYPES;

/** Options of {@link SecurityModel}. */
export interface SecurityOptions {
  /** Share of events (0..1) that belong to attack bursts. Default 0.25. */
  attackRatio?: number;
  /** Attack bursts in progress at the same time, interleaved. Default 4. */
  maxConcurrentAttacks?: number;
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
  readonly #bursts: BurstFactory;
  readonly #active: Burst[] = [];
  readonly #iso = new IsoFormatter();
  readonly #f: Fields = newFields();

  /** Builds pools from `rng` (deterministic for a seed). */
  constructor(rng: Rng, opts: SecurityOptions = {}) {
    this.#rng = rng;
    this.#pools = buildPools(rng);
    this.#bursts = new BurstFactory(this.#pools);
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
        active.push(this.#bursts.start(rng));
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

  /** One background event, not part of a burst. */
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
        const service = rng.pick(LOGIN_SERVICES);
        const src = rng.float() < 0.8
          ? rng.pick(p.workstations).ip
          : rng.pick(p.external);
        fillLogin(
          f,
          type,
          ok ? "Accepted password" : "Failed password",
          src,
          server,
          service,
          rng.pick(p.users),
          ok ? "info" : "low",
          ok ? "allowed" : "logged",
          "",
          " " + service[0],
        );
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
        fillFirewallBlock(f, rng, p, rng.pick(p.external), "");
        return;
      case "port_scan":
        fillPortProbe(
          f,
          rng.pick(p.external),
          rng.pick(p.servers),
          rng.range(1, 65535),
          "",
          true,
        );
        return;
      case "brute_force": {
        const server = rng.pick(p.servers); // drawn before the source
        fillBruteDetected(
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
        fillWebAttack(
          f,
          rng,
          rng.pick(p.external),
          rng.pick(p.webServers),
          type,
          "",
        );
        return;
      case "malware_detected":
        fillMalware(f, rng, p, rng.pick(p.workstations), "");
        return;
      case "privilege_escalation":
        fillEscalation(
          f,
          rng,
          rng.pick(p.workstations),
          rng.pick(p.servers),
          rng.pick(p.users),
          "",
        );
        return;
      case "data_exfiltration":
        fillExfiltration(f, rng, p, rng.pick(p.servers), "");
        return;
      default: // dns_tunneling
        fillTunnel(f, rng, p, rng.pick(p.workstations), "");
        return;
    }
  }
}
