/**
 * Renders the Alertmanager config template (dashboards/alertmanager/alertmanager.yml,
 * owned by dashboards/) with the webhook URL from the environment. Alertmanager 0.25 cannot
 * read env vars, and the Slack receiver's `api_url_file` would need a file
 * the launcher writes anyway, so the launcher renders the template once at
 * `deno task up`:
 *
 * @example
 * ```ts
 * import { alertWebhookUrl, renderAlertmanagerConfig } from "./alertmanager.ts";
 * const template = await Deno.readTextFile("dashboards/alertmanager/alertmanager.yml");
 * const yml = renderAlertmanagerConfig(template, alertWebhookUrl(Deno.env.get("ALERT_WEBHOOK_URL")));
 * ```
 *
 * @module
 */

import { DEFAULT_ALERT_WEBHOOK_URL } from "../../schemas/topology.ts";

export { DEFAULT_ALERT_WEBHOOK_URL };

/** The placeholder in the template. */
export const WEBHOOK_PLACEHOLDER = "${ALERT_WEBHOOK_URL}";

/**
 * The webhook URL to use: `value` (from env `ALERT_WEBHOOK_URL`) or the
 * default. Throws a one-line error for anything but an absolute http(s) URL.
 */
export function alertWebhookUrl(value: string | undefined): string {
  const raw = value?.trim() || DEFAULT_ALERT_WEBHOOK_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(
      `ALERT_WEBHOOK_URL is not a URL: ${
        JSON.stringify(raw)
      } (expected e.g. https://hooks.slack.com/services/...)`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(
      `ALERT_WEBHOOK_URL must be http(s), got ${JSON.stringify(url.protocol)}`,
    );
  }
  return url.href;
}

/**
 * Replaces the placeholder with the URL as a YAML double-quoted scalar
 * (JSON string syntax is valid YAML), so no URL can break the YAML.
 */
export function renderAlertmanagerConfig(
  template: string,
  webhookUrl: string,
): string {
  if (!template.includes(WEBHOOK_PLACEHOLDER)) {
    throw new Error(
      `alertmanager template has no ${WEBHOOK_PLACEHOLDER} placeholder`,
    );
  }
  const quoted = JSON.stringify(alertWebhookUrl(webhookUrl));
  // Only replace real uses, not the mention in the header comment.
  return template.split("\n").map((line) =>
    line.trimStart().startsWith("#")
      ? line
      : line.replaceAll(WEBHOOK_PLACEHOLDER, quoted)
  ).join("\n");
}

/** Path of the template, relative to the repository root. */
export const ALERTMANAGER_TEMPLATE = "dashboards/alertmanager/alertmanager.yml";
