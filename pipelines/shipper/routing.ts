/**
 * Routing rules: which Kafka topic(s) an event goes to, and with which key.
 *
 * Every rule whose condition matches adds one destination (fan-out: an HTTP
 * error log goes to `logs.<service>` AND `logs.error`); a rule marked `final`
 * stops the evaluation. An event no rule matched goes to the default topic,
 * or — without one — to the dead-letter topic with reason "no route".
 *
 * @module
 */

/** A condition on one top-level field of the event. */
export interface Condition {
  /** Field name (top level of the JSON object). */
  field: string;
  /** Matches when the field's value, as text, equals this. */
  equals?: string | number | boolean;
  /** Matches when the field's value, as text, is one of these. */
  in?: Array<string | number | boolean>;
  /** `true`: the field is present (and not null); `false`: it is absent. */
  exists?: boolean;
}

/** One routing rule. */
export interface RouteRule {
  /** Condition; a rule without one always matches. */
  when?: Condition;
  /** Restrict the rule to events from one source kind. */
  source?: "file" | "http";
  /** Topic name; `{field}` is replaced with the event's value of `field`. */
  topic: string;
  /** Field whose value becomes the message key (overrides the default). */
  key?: string;
  /** Stop evaluating further rules after this one matched. */
  final?: boolean;
}

/** The routing table. */
export interface RoutingConfig {
  rules: RouteRule[];
  /** Topic for events no rule matched. */
  defaultTopic?: string;
  /** Key field for rules without their own `key` and for the default topic. */
  keyField?: string;
}

/** One destination of an event. */
export interface Destination {
  topic: string;
  /** Key text, or null when the key field is absent. */
  key: string | null;
}

/** The outcome of routing one event: destinations, or why there are none. */
export type RouteResult =
  | { ok: true; destinations: Destination[] }
  | { ok: false; reason: string };

/**
 * The product's built-in routes, used when no `--topic`, `--route` or config
 * file is given: security events to `security.events` keyed by `src_ip`;
 * service logs to `logs.<service>` keyed by `trace_id`, errors also to
 * `logs.error` (the data contracts in the README).
 */
export const DEFAULT_ROUTING: RoutingConfig = {
  rules: [
    {
      when: { field: "event_type", exists: true },
      topic: "security.events",
      key: "src_ip",
      final: true,
    },
    {
      when: {
        field: "service",
        in: ["auth", "order", "payment", "notify"],
      },
      topic: "logs.{service}",
      key: "trace_id",
    },
    {
      when: { field: "level", equals: "error" },
      topic: "logs.error",
      key: "trace_id",
    },
  ],
};

const TOPIC_RE = /^[a-zA-Z0-9._-]{1,249}$/;

/** Whether `name` is a legal Kafka topic name. */
export function isValidTopic(name: string): boolean {
  return TOPIC_RE.test(name) && name !== "." && name !== "..";
}

/** Field value as text for comparisons, keys and templates. */
function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

function matches(c: Condition, event: Record<string, unknown>): boolean {
  const v = text(event[c.field]);
  if (c.exists !== undefined && (v !== undefined) !== c.exists) return false;
  if (c.equals !== undefined && v !== String(c.equals)) return false;
  if (
    c.in !== undefined && (v === undefined || !c.in.map(String).includes(v))
  ) {
    return false;
  }
  return true;
}

const TEMPLATE_RE = /\{([^{}]+)\}/g;

/** Renders `logs.{service}`; undefined when a referenced field is missing. */
export function renderTopic(
  template: string,
  event: Record<string, unknown>,
): string | undefined {
  let missing = false;
  const out = template.replace(TEMPLATE_RE, (_, field: string) => {
    const v = text(event[field]);
    if (v === undefined) missing = true;
    return v ?? "";
  });
  return missing ? undefined : out;
}

/**
 * A compiled routing table: a function from event to destinations, and the
 * top-level fields it reads (the only ones the encoder needs to extract).
 */
export type Router =
  & ((
    event: Record<string, unknown>,
    source: "file" | "http",
  ) => RouteResult)
  & { readonly fields: readonly string[] };

/** Every top-level field `cfg`'s rules read: conditions, templates, keys. */
export function routingFields(cfg: RoutingConfig): string[] {
  const fields = new Set<string>();
  const add = (f: string | undefined) => f !== undefined && fields.add(f);
  for (const r of cfg.rules) {
    add(r.when?.field);
    for (const m of r.topic.matchAll(TEMPLATE_RE)) add(m[1]);
    add(r.key ?? cfg.keyField);
  }
  add(cfg.keyField);
  return [...fields];
}

/** Validates `cfg` (throws with a clear message) and returns its router. */
export function compileRouting(cfg: RoutingConfig): Router {
  for (const [i, r] of cfg.rules.entries()) {
    if (typeof r.topic !== "string" || r.topic === "") {
      throw new Error(`route ${i + 1}: "topic" must be a non-empty string`);
    }
    const literal = r.topic.replace(TEMPLATE_RE, "x");
    if (!isValidTopic(literal)) {
      throw new Error(`route ${i + 1}: "${r.topic}" is not a valid topic name`);
    }
    if (r.when && typeof r.when.field !== "string") {
      throw new Error(`route ${i + 1}: "when.field" must be a string`);
    }
  }
  if (cfg.defaultTopic !== undefined && !isValidTopic(cfg.defaultTopic)) {
    throw new Error(`"${cfg.defaultTopic}" is not a valid topic name`);
  }
  const rules = cfg.rules;
  const route = (
    event: Record<string, unknown>,
    source: "file" | "http",
  ): RouteResult => {
    const destinations: Destination[] = [];
    for (const r of rules) {
      if (r.source && r.source !== source) continue;
      if (r.when && !matches(r.when, event)) continue;
      const topic = renderTopic(r.topic, event);
      if (topic === undefined) continue;
      if (!isValidTopic(topic)) {
        return {
          ok: false,
          reason: `route "${r.topic}" gives invalid topic name "${
            topic.slice(0, 100)
          }"`,
        };
      }
      if (!destinations.some((d) => d.topic === topic)) {
        const keyField = r.key ?? cfg.keyField;
        destinations.push({
          topic,
          key: keyField ? text(event[keyField]) ?? null : null,
        });
      }
      if (r.final) break;
    }
    if (destinations.length === 0) {
      if (cfg.defaultTopic === undefined) {
        return { ok: false, reason: "no route matches the event" };
      }
      destinations.push({
        topic: cfg.defaultTopic,
        key: cfg.keyField ? text(event[cfg.keyField]) ?? null : null,
      });
    }
    return { ok: true, destinations };
  };
  return Object.assign(route, { fields: routingFields(cfg) });
}

/**
 * Parses a `--route` flag: `CONDITION:TOPIC` where CONDITION is `*` (always),
 * `field` (field present) or `field=value`; TOPIC may contain `{field}`.
 * Example: `level=error:logs.error`, `service:logs.{service}`.
 */
export function parseRouteFlag(spec: string): RouteRule {
  const at = spec.lastIndexOf(":");
  if (at <= 0 || at === spec.length - 1) {
    throw new Error(
      `--route "${spec}" must look like CONDITION:TOPIC (e.g. level=error:logs.error, service:logs.{service}, *:events)`,
    );
  }
  const cond = spec.slice(0, at).trim();
  const topic = spec.slice(at + 1).trim();
  if (cond === "*") return { topic };
  const eq = cond.indexOf("=");
  if (eq < 0) return { when: { field: cond, exists: true }, topic };
  return {
    when: { field: cond.slice(0, eq).trim(), equals: cond.slice(eq + 1) },
    topic,
  };
}
