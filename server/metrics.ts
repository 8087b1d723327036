/**
 * The server's counters and gauges, and their rendering in the Prometheus
 * text exposition format (version 0.0.4) for `GET /metrics`.
 *
 * Counters are plain fields bumped on the hot path (no lookups, no labels
 * built per event); gauges are read when scraped, from functions the server
 * registers. Pure: no Deno APIs, so the room can count without knowing
 * sockets.
 *
 * @module
 */

import { type ErrorCode, type ServerEvent, type Via, VIAS } from "../common/protocol.ts";

/** One value of a metric, with its labels. */
export interface Sample {
  /** The series' own name, where it differs from the metric's (a histogram's `_bucket`). */
  name?: string;
  labels?: Readonly<Record<string, string>>;
  value: number;
}

/** A count for each way a member can be connected, the `via` label. */
export type ByVia = Record<Via, number>;

/** Why a connection was closed by the server, for `chat_disconnects_total`. */
export type DisconnectReason =
  | "flooding"
  | "slow_consumer"
  | "join_timeout"
  | "kicked"
  | "header_timeout"
  | "idle_timeout"
  | "tls_handshake_timeout"
  | "write_timeout"
  | "keepalive_timeout"
  | "no_answer";

interface Gauge {
  name: string;
  help: string;
  type: "gauge" | "counter" | "histogram";
  read: () => number | readonly Sample[];
}

const byVia = (): ByVia => ({ web: 0, terminal: 0, irc: 0 });

/** Everything `/metrics` reports. */
export class Metrics {
  /** Chat messages accepted from members, room and private. */
  readonly received: ByVia = byVia();
  /** Chat messages delivered to members (each copy counts). */
  readonly messagesSent: ByVia = byVia();
  /** Events of every kind delivered to members (each copy counts). */
  readonly eventsSent: ByVia = byVia();
  /** Members disconnected because they stopped reading. */
  readonly slowConsumers: ByVia = byVia();
  /** Times a connection's input was held while what was sent to it waited unread. */
  readonly inputHeld: ByVia = byVia();
  readonly #refusals = new Map<string, number>();
  readonly #disconnects = new Map<DisconnectReason, number>();
  readonly #gauges: Gauge[] = [];

  /** Counts an event delivered to a member, or to `count` members connected the same way. */
  sent(via: Via, event: ServerEvent, count = 1): void {
    this.eventsSent[via] += count;
    if (event.type === "message") this.messagesSent[via] += count;
  }

  /** Counts something refused: an error sent, a connection or upgrade turned away. */
  refused(reason: ErrorCode | "cross_origin" | "unknown_host"): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1);
  }

  /** Counts a connection the server closed on purpose. */
  disconnected(reason: DisconnectReason, via?: Via): void {
    this.#disconnects.set(reason, (this.#disconnects.get(reason) ?? 0) + 1);
    if (reason === "slow_consumer" && via) this.slowConsumers[via]++;
  }

  /** How many times `reason` was refused so far. */
  refusals(reason: string): number {
    return this.#refusals.get(reason) ?? 0;
  }

  /** Registers a value read at each scrape. */
  gauge(
    name: string,
    help: string,
    read: () => number | readonly Sample[],
    type: "gauge" | "counter" = "gauge",
  ): void {
    this.#gauges.push({ name, help, type, read });
  }

  /**
   * Registers a histogram made at each scrape from the values `read`
   * returns (one per thing measured), with buckets up to each of `bounds`
   * (ascending) and `+Inf`.
   */
  histogram(name: string, help: string, bounds: readonly number[], read: () => number[]): void {
    this.#gauges.push({
      name,
      help,
      type: "histogram",
      read: () => {
        const values = read();
        const samples: Sample[] = [...bounds, Infinity].map((le) => ({
          name: `${name}_bucket`,
          labels: { le: number(le) },
          value: values.filter((v) => v <= le).length,
        }));
        const sum = values.reduce((a, b) => a + b, 0);
        samples.push({ name: `${name}_sum`, value: sum }, {
          name: `${name}_count`,
          value: values.length,
        });
        return samples;
      },
    });
  }

  /** The whole exposition, one `# HELP`/`# TYPE` block per metric. */
  render(): string {
    const out: string[] = [];
    const block = (name: string, help: string, type: string, samples: readonly Sample[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const s of samples) {
        out.push(`${s.name ?? name}${labels(s.labels)} ${number(s.value)}`);
      }
    };
    const perVia = (counts: ByVia) => VIAS.map((via) => ({ labels: { via }, value: counts[via] }));
    const perReason = (counts: ReadonlyMap<string, number>) =>
      [...counts].sort(([a], [b]) => a < b ? -1 : 1).map(([reason, value]) => ({
        labels: { reason },
        value,
      }));
    block(
      "chat_messages_received_total",
      "Chat messages accepted from members, room and private.",
      "counter",
      perVia(this.received),
    );
    block(
      "chat_messages_sent_total",
      "Chat messages delivered to members; each copy counts.",
      "counter",
      perVia(this.messagesSent),
    );
    block(
      "chat_events_sent_total",
      "Events of every kind delivered to members; each copy counts.",
      "counter",
      perVia(this.eventsSent),
    );
    block(
      "chat_refusals_total",
      "Requests and connections refused, by reason (the error code sent).",
      "counter",
      perReason(this.#refusals),
    );
    block(
      "chat_disconnects_total",
      "Connections the server closed on purpose, by reason.",
      "counter",
      perReason(this.#disconnects),
    );
    block(
      "chat_slow_consumer_disconnects_total",
      "Members disconnected because their outgoing queue passed its bound.",
      "counter",
      perVia(this.slowConsumers),
    );
    block(
      "chat_input_held_total",
      "Times a connection's input was held while more than 1 MiB sent to it waited unread.",
      "counter",
      perVia(this.inputHeld),
    );
    for (const g of this.#gauges) {
      const value = g.read();
      block(g.name, g.help, g.type, typeof value === "number" ? [{ value }] : value);
    }
    return out.join("\n") + "\n";
  }
}

/** The content type of {@linkcode Metrics.render}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function labels(set: Readonly<Record<string, string>> | undefined): string {
  if (!set) return "";
  const parts = Object.entries(set).map(([k, v]) =>
    `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function number(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}
