/**
 * HTTP service logs as in the log-ETL reference: four services with a
 * configurable traffic mix, per-service error (5xx) and client-error (4xx)
 * rates, endpoints with their own methods and weights, long-tailed
 * (log-normal) latency, users, client IPs, user agents and trace ids.
 * Time-of-day weights act on the event rate (see `--curve daily`).
 *
 * @module
 */
import { HTTP_SERVICES } from "../../runtime/contract.ts";
import { type Rng, WeightedPicker } from "../prng.ts";
import { IsoFormatter } from "../clock.ts";
import { assertJsonSafe, type EventModel, type EventSlot } from "./mod.ts";

/** The services of the data contract, in route order. */
export const SERVICES = HTTP_SERVICES;
/** One of {@link SERVICES}. */
export type Service = typeof SERVICES[number];

/** Per-service numbers; every service must be present. */
export type PerService = Record<Service, number>;

/** Default traffic mix (relative weights). */
export const DEFAULT_SERVICE_MIX: PerService = {
  auth: 40,
  order: 30,
  payment: 20,
  notify: 10,
};
/** Default share of requests answered 5xx (level "error"). */
export const DEFAULT_ERROR_RATES: PerService = {
  auth: 0.02,
  order: 0.03,
  payment: 0.05,
  notify: 0.01,
};
/** Default share of requests answered 4xx (level "warn"). */
export const DEFAULT_WARN_RATES: PerService = {
  auth: 0.08,
  order: 0.04,
  payment: 0.03,
  notify: 0.02,
};

/** Options of {@link HttpModel}. */
export interface HttpOptions {
  serviceMix?: PerService;
  errorRates?: PerService;
  warnRates?: PerService;
}

interface Endpoint {
  method: string;
  /** Path before the id (or the whole path when `idSuffix` is null). */
  prefix: string;
  /** Text after the id, or null when the path has no id. */
  idSuffix: string | null;
  /** Status of a successful call. */
  ok: number;
  /** Median latency (ms) and log-normal shape. */
  median: number;
  sigma: number;
}

interface ServiceModel {
  name: Service;
  endpoints: Endpoint[];
  pickEndpoint: WeightedPicker;
  errorRate: number;
  warnRate: number;
  clientErrors: number[];
  pickClientError: WeightedPicker;
}

function ep(
  method: string,
  path: string,
  ok: number,
  median: number,
  sigma: number,
): Endpoint {
  const i = path.indexOf("{id}");
  return {
    method,
    prefix: i < 0 ? path : path.slice(0, i),
    idSuffix: i < 0 ? null : path.slice(i + 4),
    ok,
    median,
    sigma,
  };
}

const ENDPOINTS: Record<Service, Array<[Endpoint, number]>> = {
  auth: [
    [ep("POST", "/api/v1/auth/login", 200, 45, 0.5), 40],
    [ep("POST", "/api/v1/auth/token/refresh", 200, 12, 0.4), 30],
    [ep("GET", "/api/v1/auth/me", 200, 8, 0.4), 20],
    [ep("POST", "/api/v1/auth/logout", 204, 6, 0.3), 10],
  ],
  order: [
    [ep("GET", "/api/v1/orders", 200, 35, 0.6), 35],
    [ep("GET", "/api/v1/orders/{id}", 200, 18, 0.5), 30],
    [ep("POST", "/api/v1/orders", 201, 80, 0.6), 20],
    [ep("PATCH", "/api/v1/orders/{id}", 200, 40, 0.5), 8],
    [ep("PUT", "/api/v1/orders/{id}/items", 200, 55, 0.5), 4],
    [ep("DELETE", "/api/v1/orders/{id}", 204, 30, 0.5), 3],
  ],
  payment: [
    [ep("POST", "/api/v1/payments", 201, 220, 0.7), 50],
    [ep("GET", "/api/v1/payments/{id}", 200, 25, 0.5), 35],
    [ep("POST", "/api/v1/payments/{id}/refund", 201, 300, 0.8), 10],
    [ep("POST", "/api/v1/payments/webhook", 200, 15, 0.6), 5],
  ],
  notify: [
    [ep("POST", "/api/v1/notify/email", 202, 60, 0.9), 45],
    [ep("POST", "/api/v1/notify/push", 202, 25, 0.8), 35],
    [ep("POST", "/api/v1/notify/sms", 202, 120, 1.0), 15],
    [ep("GET", "/api/v1/notify/templates/{id}", 200, 10, 0.4), 5],
  ],
};

const CLIENT_ERRORS: Record<Service, Array<[number, number]>> = {
  auth: [[401, 60], [403, 15], [400, 10], [429, 15]],
  order: [[404, 40], [400, 25], [409, 15], [422, 15], [401, 5]],
  payment: [[402, 35], [400, 25], [409, 15], [422, 20], [401, 5]],
  notify: [[400, 50], [404, 20], [429, 30]],
};
const SERVER_ERRORS = [500, 502, 503, 504];
const SERVER_ERROR_WEIGHTS = [50, 15, 20, 15];
const REASONS: Record<number, string> = {
  400: "bad request",
  401: "unauthorized",
  402: "payment required: card declined",
  403: "forbidden",
  404: "not found",
  409: "conflict",
  422: "validation failed",
  429: "rate limited",
  500: "internal error: unhandled exception",
  502: "bad gateway: upstream connection reset",
  503: "service unavailable: circuit open",
  504: "gateway timeout: upstream did not answer",
};
const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
  "okhttp/4.12.0",
  "shop-ios/5.3.1 (iPhone; iOS 17.4)",
  "shop-android/5.3.0 (Android 14)",
  "curl/8.5.0",
  "python-requests/2.31.0",
  "Go-http-client/2.0",
  "PostmanRuntime/7.37.0",
];

function validateRates(name: string, v: PerService, max: number): void {
  for (const s of SERVICES) {
    const x = v[s];
    if (typeof x !== "number" || !(x >= 0) || x > max) {
      throw new RangeError(`${name}.${s} must be a number in [0, ${max}]`);
    }
  }
}

/** The HTTP service-log model (see module docs). */
export class HttpModel implements EventModel {
  readonly kind = "http";
  readonly routes: readonly string[] = SERVICES;
  readonly #rng: Rng;
  readonly #services: ServiceModel[];
  readonly #pickService: WeightedPicker;
  readonly #pickServerError = new WeightedPicker(SERVER_ERROR_WEIGHTS);
  readonly #ips: string[];
  readonly #iso = new IsoFormatter();

  /** Builds pools from `rng`; throws RangeError on bad rates. */
  constructor(rng: Rng, opts: HttpOptions = {}) {
    const mix = opts.serviceMix ?? DEFAULT_SERVICE_MIX;
    const errors = opts.errorRates ?? DEFAULT_ERROR_RATES;
    const warns = opts.warnRates ?? DEFAULT_WARN_RATES;
    validateRates("service mix", mix, Number.MAX_SAFE_INTEGER);
    validateRates("error rate", errors, 1);
    validateRates("warn rate", warns, 1);
    for (const s of SERVICES) {
      if (errors[s] + warns[s] > 1) {
        throw new RangeError(`error + warn rate of ${s} exceeds 1`);
      }
    }
    this.#rng = rng;
    this.#pickService = new WeightedPicker(SERVICES.map((s) => mix[s]));
    this.#services = SERVICES.map((name) => ({
      name,
      endpoints: ENDPOINTS[name].map(([e]) => e),
      pickEndpoint: new WeightedPicker(ENDPOINTS[name].map(([, w]) => w)),
      errorRate: errors[name],
      warnRate: warns[name],
      clientErrors: CLIENT_ERRORS[name].map(([c]) => c),
      pickClientError: new WeightedPicker(
        CLIENT_ERRORS[name].map(([, w]) => w),
      ),
    }));
    this.#ips = Array.from(
      { length: 3000 },
      () =>
        `${rng.range(11, 223)}.${rng.int(256)}.${rng.int(256)}.${
          rng.range(1, 254)
        }`,
    );
    assertJsonSafe(USER_AGENTS, "user agent");
  }

  /** Fills `slot` with the next log line. */
  next(slot: EventSlot, ts: number): void {
    const rng = this.#rng;
    const id = rng.uuid();
    const si = this.#pickService.pick(rng);
    const svc = this.#services[si];
    const e = svc.endpoints[svc.pickEndpoint.pick(rng)];
    const path = e.idSuffix === null
      ? e.prefix
      : e.prefix + rng.range(1, 999_999) + e.idSuffix;
    const r = rng.float();
    let status: number;
    let level: string;
    let latency = rng.logNormal(e.median, e.sigma);
    let message: string;
    if (r < svc.errorRate) {
      status = SERVER_ERRORS[this.#pickServerError.pick(rng)];
      level = "error";
      // Timeouts wait for the upstream deadline; other 5xx are slow-ish.
      latency = status === 504 ? rng.range(5000, 30000) + latency : latency * 3;
      message = svc.name + " " + e.method + " " + path + " failed: " +
        REASONS[status];
    } else if (r < svc.errorRate + svc.warnRate) {
      status = svc.clientErrors[svc.pickClientError.pick(rng)];
      level = "warn";
      latency *= 0.6;
      message = e.method + " " + path + " rejected: " + REASONS[status];
    } else {
      status = e.ok;
      level = "info";
      message = e.method + " " + path + " " + status;
    }
    const trace = rng.hex(4);
    slot.line = '{"event_id":"' + id + '","timestamp":"' +
      this.#iso.format(ts) +
      '","service":"' + svc.name + '","method":"' + e.method + '","path":"' +
      path + '","status":' + status + ',"latency_ms":' +
      Math.round(latency * 100) / 100 + ',"user_id":"u' +
      rng.range(1, 50_000) + '","client_ip":"' + rng.pick(this.#ips) +
      '","user_agent":"' + rng.pick(USER_AGENTS) + '","trace_id":"' + trace +
      '","level":"' + level + '","message":"' + message + '"}';
    slot.key = trace;
    slot.route = si;
    slot.error = status >= 500;
  }
}
