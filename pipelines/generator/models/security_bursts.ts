/**
 * Attack bursts: scenarios that send a run of events from one source, all
 * with one `scenario_id`. Every scenario is written as a list of
 * {@link Stage}s (so many events of one kind, then the next kind), and one
 * engine, {@link Burst}, steps through any of them: brute force (failed
 * logins, the detection, maybe a success), port scans, web attacks, malware
 * outbreaks (quarantined, or tunnelling then exfiltration) and insider
 * privilege escalation.
 *
 * Random draws happen in a fixed order (same seed → same bytes): a
 * scenario draws its parameters when it starts, each event draws its source
 * port and then what its filler draws, and a stage's `then` draws right
 * after that stage's last event.
 *
 * @module
 */
import { type Rng, WeightedPicker } from "../prng.ts";
import { LOGIN_SERVICES, type Pools } from "./security_catalog.ts";
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
  type Service,
} from "./security_fill.ts";

/** A stretch of a burst: `n` events, the i-th (from 0) filled by `fill`. */
export interface Stage {
  n: number;
  fill(f: Fields, r: Rng, i: number): void;
  /** Stages that follow, chosen (and sized) after this one's last event. */
  then?(r: Rng): Stage[];
  /** An alert about earlier traffic, not a connection: no new source port. */
  samePort?: boolean;
}

/** One burst in progress: its stages, stepped one event at a time. */
export class Burst {
  readonly #stages: Stage[];
  #s = 0;
  #i = 0;

  /** A burst that sends `stages` in order (stages of 0 events are skipped). */
  constructor(stages: Stage[]) {
    this.#stages = stages;
    this.#skipEmpty();
    if (this.done) throw new RangeError("a burst needs at least one event");
  }

  /** True when every event has been sent. */
  get done(): boolean {
    return this.#s >= this.#stages.length;
  }

  /** Fills the next event; returns true when it was the burst's last. */
  step(f: Fields, r: Rng): boolean {
    const st = this.#stages[this.#s];
    if (!st.samePort) f.sport = r.range(1024, 65535);
    st.fill(f, r, this.#i);
    if (++this.#i === st.n) {
      this.#i = 0;
      this.#s++;
      if (st.then) this.#stages.splice(this.#s, 0, ...st.then(r));
      this.#skipEmpty();
    }
    return this.done;
  }

  #skipEmpty(): void {
    while (this.#s < this.#stages.length && this.#stages[this.#s].n === 0) {
      this.#s++;
    }
  }
}

/** Builds a scenario's stages; `sid` is its scenario id. */
type Scenario = (sid: string, r: Rng, p: Pools) => Stage[];

const SSH: Service = ["ssh", 22];

/** Failed logins against one account; detected after 10; maybe a success. */
const bruteForce: Scenario = (sid, rng, p) => {
  const src = rng.pick(p.attackers);
  const server = rng.pick(p.servers);
  const user = rng.pick(p.targetUsers);
  const service = rng.pick(LOGIN_SERVICES);
  const failures = rng.range(15, 150);
  const detectAt = 10;
  const succeeds = rng.float() < 0.25;
  const failure =
    (first: number, severity: string, action: string) =>
    (f: Fields, _r: Rng, i: number) =>
      fillLogin(
        f,
        "auth_failure",
        "Failed password",
        src,
        server,
        service,
        user,
        severity,
        action,
        sid,
        " " + service[0] + " (attempt " + (first + i) + ")",
      );
  return [
    { n: detectAt, fill: failure(1, "low", "logged") },
    {
      n: 1,
      samePort: true,
      fill: (f) =>
        fillBruteDetected(f, src, server, user, service, detectAt, sid),
    },
    {
      n: failures - detectAt,
      fill: failure(detectAt + 1, "medium", "blocked"),
    },
    {
      n: succeeds ? 1 : 0,
      fill: (f) =>
        fillLogin(
          f,
          "auth_success",
          "Accepted password",
          src,
          server,
          service,
          user,
          "high",
          "allowed",
          sid,
          " after " + failures + " failures",
        ),
    },
  ];
};

/** SYN probes over a range of ports of one server. */
const portScan: Scenario = (sid, rng, p) => {
  const src = rng.pick(p.attackers);
  const target = rng.pick(p.servers);
  const ports = rng.range(40, 400);
  const start = rng.range(1, 1024);
  const stride = rng.pick([1, 1, 1, 7, 13, 101]);
  return [{
    n: ports,
    fill: (f, _r, i) =>
      fillPortProbe(
        f,
        src,
        target,
        ((start - 1 + i * stride) % 65535) + 1,
        sid,
        i === 0,
      ),
  }];
};

/** SQL injection and XSS requests against one web server. */
const webAttack: Scenario = (sid, rng, p) => {
  const src = rng.pick(p.attackers);
  const server = rng.pick(p.webServers);
  const total = rng.range(10, 60);
  const sqliShare = rng.float();
  return [{
    n: total,
    fill: (f, r) => {
      const type = r.float() < sqliShare ? "sql_injection" : "xss_attempt";
      fillWebAttack(f, r, src, server, type, sid);
    },
  }];
};

/**
 * Malware on a workstation. Quarantined: a few blocked C2 callbacks.
 * Missed: DNS tunnelling, then exfiltration.
 */
const malware: Scenario = (sid, rng, p) => {
  const ws = rng.pick(p.workstations);
  let quarantined = false;
  const callbacks: Stage = {
    n: 0,
    fill: (f, r) => {
      fillFirewallBlock(f, r, p, ws.ip, sid);
      f.dst = r.pick(p.external);
      f.severity = "high";
      f.message = "Blocked C2 callback from " + ws.name + " to " + f.dst +
        ":" + f.dport;
    },
  };
  const tunnel: Stage = {
    n: 0,
    fill: (f, r) => fillTunnel(f, r, p, ws, sid),
    then: (r) => [{
      n: r.range(1, 4),
      fill: (f, r) => fillExfiltration(f, r, p, ws, sid),
    }],
  };
  return [{
    n: 1,
    fill: (f, r) => {
      quarantined = fillMalware(f, r, p, ws, sid);
    },
    then: (r) =>
      quarantined
        ? [{ ...callbacks, n: r.range(0, 3) }]
        : [{ ...tunnel, n: r.range(5, 25) }],
  }];
};

/** A user logs in to a server, gains root, and uploads data from it. */
const insider: Scenario = (sid, rng, p) => {
  const ws = rng.pick(p.workstations);
  const server = rng.pick(p.servers);
  const user = rng.pick(p.users);
  const uploads = rng.range(2, 6);
  return [
    {
      n: 1,
      fill: (f) =>
        fillLogin(
          f,
          "auth_success",
          "Accepted publickey",
          ws.ip,
          server,
          SSH,
          user,
          "info",
          "allowed",
          sid,
          " ssh",
        ),
    },
    { n: 1, fill: (f, r) => fillEscalation(f, r, ws, server, user, sid) },
    {
      n: uploads,
      fill: (f, r) => {
        fillExfiltration(f, r, p, server, sid);
        f.user = user;
      },
    },
  ];
};

/** Scenarios: weight, scenario id prefix, stages. */
const SCENARIOS: ReadonlyArray<readonly [number, string, Scenario]> = [
  [35, "bf-", bruteForce],
  [25, "ps-", portScan],
  [20, "wa-", webAttack],
  [10, "mw-", malware],
  [10, "in-", insider],
];

/** Picks scenarios by weight and starts them. */
export class BurstFactory {
  readonly #picker = new WeightedPicker(SCENARIOS.map(([w]) => w));

  /** Uses the model's pools. */
  constructor(private readonly pools: Pools) {}

  /** A new burst of a random scenario, its parameters drawn from `rng`. */
  start(rng: Rng): Burst {
    const [, prefix, scenario] = SCENARIOS[this.#picker.pick(rng)];
    const sid = prefix + rng.hex(2);
    return new Burst(scenario(sid, rng, this.pools));
  }
}
