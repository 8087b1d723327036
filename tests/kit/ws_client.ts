/**
 * A page's member for tests: the runtime's `WebSocket` on `/ws`, keeping
 * every event the server sends and letting a test await the next one it
 * expects. Nothing here sleeps: see {@linkcode Waiters}. `AsyncDisposable`,
 * so `await using` closes it even when an assertion throws.
 *
 * For what the runtime's client cannot do (stop reading, frames a browser
 * would not send, TLS with a test CA), see `raw_ws.ts`.
 *
 * @module
 */

import { parseServerFrame, type ServerEvent, type WelcomeEvent } from "../../common/protocol.ts";
import type { Listening } from "./server.ts";
import { Waiters } from "./waiters.ts";

/** The event type `K`. */
export type EventOf<K extends ServerEvent["type"]> = Extract<ServerEvent, { type: K }>;

/** True if `event` is of `type`. */
export function isType<K extends ServerEvent["type"]>(
  event: ServerEvent,
  type: K,
): event is EventOf<K> {
  return event.type === type;
}

/**
 * A WebSocket client of `/ws`. Every event received is kept in
 * {@linkcode events}; {@linkcode next} hands them out in order, each once.
 */
export class WsClient implements AsyncDisposable {
  readonly #socket: WebSocket;
  readonly #waiters = new Waiters();
  readonly #events: ServerEvent[] = [];
  /** Received and not yet handed out by `next`. */
  readonly #pending: ServerEvent[] = [];
  readonly #closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    const { promise, resolve } = Promise.withResolvers<CloseEvent>();
    this.#closed = promise;
    socket.addEventListener("message", (e) => this.#receive(e.data));
    socket.addEventListener("close", (e) => {
      this.#waiters.end(new Error(`the socket closed (${e.code} ${e.reason})`));
      resolve(e);
    });
  }

  /** Opens a socket to the server's `/ws`, without joining. */
  static async open(server: Pick<Listening, "http">): Promise<WsClient> {
    const socket = new WebSocket(`ws://${server.http.hostname}:${server.http.port}/ws`);
    socket.binaryType = "arraybuffer";
    const client = new WsClient(socket);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    socket.addEventListener("open", () => resolve());
    client.#closed.then((e) => reject(new Error(`Cannot open the socket: closed (${e.code})`)));
    await promise;
    return client;
  }

  /** Every event received so far, in order, handed out by `next` or not. */
  get events(): readonly ServerEvent[] {
    return this.#events;
  }

  /** Settles with the close event, once the socket is closed by either side. */
  get closed(): Promise<CloseEvent> {
    return this.#closed;
  }

  /** Sends a value as a JSON text frame. */
  send(message: unknown): void {
    this.#socket.send(JSON.stringify(message));
  }

  /** Sends a frame as is: text, or binary. */
  sendRaw(data: string | ArrayBuffer): void {
    this.#socket.send(data);
  }

  /**
   * Waits for the next event that `where` accepts, taking it out of the ones
   * not yet handed out. Earlier events it does not accept stay there.
   */
  nextEvent(where: (event: ServerEvent) => boolean, what = `${where}`): Promise<ServerEvent> {
    return this.#waiters.until(() => {
      const i = this.#pending.findIndex(where);
      return i === -1 ? undefined : this.#pending.splice(i, 1)[0];
    }, () => `before an event matching ${what}; events: ${JSON.stringify(this.#events)}`);
  }

  /** Waits for the next event of `type` that `where` accepts; see {@linkcode nextEvent}. */
  async next<K extends ServerEvent["type"]>(
    type: K,
    where: (event: EventOf<K>) => boolean = () => true,
  ): Promise<EventOf<K>> {
    const event = await this.nextEvent(
      (e) => isType(e, type) && where(e),
      where.length > 0 ? `type ${type} and ${where}` : `type ${type}`,
    );
    if (!isType(event, type)) throw new TypeError(`Expected a ${type} event`);
    return event;
  }

  /** Closes the socket (if the server has not) and waits for the close event. Idempotent. */
  async close(): Promise<CloseEvent> {
    const state = this.#socket.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) this.#socket.close();
    return await this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") {
      this.#waiters.end(new Error("the server sent a binary frame"));
      return;
    }
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      this.#waiters.end(new Error(`the server sent a bad frame (${parsed.message}): ${data}`));
      return;
    }
    this.#events.push(...parsed.value);
    this.#pending.push(...parsed.value);
    this.#waiters.wake();
  }
}

/** Opens a socket and joins as `nick`; fails if the server refuses. */
export async function connectWs(server: Pick<Listening, "http">, nick: string): Promise<WsClient> {
  const client = await WsClient.open(server);
  try {
    await joinWs(client, nick);
    return client;
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** What a `join` may carry besides the nickname. */
export interface JoinExtras {
  /** The seat's token from an earlier welcome. */
  token?: string;
  /** The last message id seen. */
  since?: number;
}

/**
 * Sends `join` (with `extras`, if any) and returns the welcome; throws with
 * the error's message if refused.
 */
export async function joinWs(
  client: WsClient,
  nick: string,
  extras: JoinExtras = {},
): Promise<WelcomeEvent> {
  client.send({ type: "join", nick, ...extras });
  const answer = await client.nextEvent((e) => e.type === "welcome" || e.type === "error");
  if (answer.type === "error") {
    throw new Error(`Cannot join as ${JSON.stringify(nick)}: ${answer.code} ${answer.message}`);
  }
  if (answer.type !== "welcome") throw new TypeError("Expected a welcome event");
  return answer;
}
