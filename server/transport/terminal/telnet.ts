/**
 * Telnet command bytes (RFC 854) in a terminal's input stream.
 *
 * `telnet` may send option negotiation and subnegotiation at any time; `nc`
 * never does. This filter takes all of it out of the data. It answers each
 * option request with a refusal, once, except for the one option the server
 * asks for itself: BINARY (RFC 856), from the client to the server.
 *
 * Why ask at all: outside binary mode, telnet clients are not 8-bit clean on
 * input. inetutils telnet, Debian's, treats a UTF-8 continuation byte such as
 * 0x9A as its 7-bit twin (^Z) and suspends itself, so typing 亚 (E4 BA 9A)
 * would be impossible. The request ({@linkcode TelnetFilter.offer}) is three
 * bytes sent on connect followed by a CR and the greeting, which overwrites
 * them on a terminal: `nc` users see nothing; programs reading the raw stream
 * see them before the greeting. Only the client's direction is switched:
 * binary output would make telnet echo Enter without a carriage return. Line
 * mode and local echo stay as they are.
 *
 * @module
 */

/** Telnet command bytes (RFC 854), for the filter and for tests that speak telnet. */
export const IAC = 255;
export const DONT = 254;
export const DO = 253;
export const WONT = 252;
export const WILL = 251;
export const SB = 250;
export const SE = 240;
/** RFC 856: 8-bit data in the direction it is agreed for. */
export const BINARY = 0;
/** RFC 860: a "timing mark" the peer must answer (WILL or WONT): a ping. */
export const TIMING_MARK = 6;

const enum State {
  Data,
  Command,
  Option,
  Sub,
  SubCommand,
}

/** What one chunk of input held. */
export interface TelnetChunk {
  /** The bytes that are data, with every command removed. */
  data: Uint8Array;
  /** Bytes to send back (refusals of option requests), or null. */
  reply: Uint8Array | null;
}

/** Separates telnet commands from data, across chunk boundaries. */
export class TelnetFilter {
  #state = State.Data;
  #verb = 0;
  // Options already refused, per verb, so a client repeating itself is not
  // answered forever (RFC 854 asks us not to loop).
  readonly #answered = new Set<number>();
  /** Options the server has asked for, as `verb * 256 + option` of the request. */
  readonly #asked = new Set<number>();

  /** True once the peer has sent a telnet command: it is a telnet client, not `nc`. */
  #telnet = false;

  /** True once the peer has shown itself a telnet client (it can answer {@linkcode probe}). */
  get telnet(): boolean {
    return this.#telnet;
  }

  /**
   * A ping a telnet client answers by itself (IAC DO TIMING-MARK, which it
   * must answer WILL or WONT): how a peer that vanished without closing is
   * told from one that is only quiet. Its answer is filtered out like any
   * other command.
   */
  probe(): Uint8Array {
    this.#asked.add(DO * 256 + TIMING_MARK);
    return Uint8Array.of(IAC, DO, TIMING_MARK);
  }

  /** The server's own request, to send first: "send binary" (IAC DO BINARY). */
  offer(): Uint8Array {
    this.#asked.add(DO * 256 + BINARY);
    return Uint8Array.of(IAC, DO, BINARY);
  }

  /** Filters one chunk of input. */
  push(chunk: Uint8Array): TelnetChunk {
    if (this.#state === State.Data && !chunk.includes(IAC)) return { data: chunk, reply: null };
    const data = new Uint8Array(chunk.length);
    let n = 0;
    const reply: number[] = [];
    for (const b of chunk) {
      switch (this.#state) {
        case State.Data:
          if (b === IAC) this.#state = State.Command;
          else data[n++] = b;
          break;
        case State.Command:
          if (b !== IAC) this.#telnet = true;
          if (b === IAC) {
            data[n++] = IAC;
            this.#state = State.Data;
          } else if (b >= WILL && b <= DONT) {
            this.#verb = b;
            this.#state = State.Option;
          } else if (b === SB) {
            this.#state = State.Sub;
          } else {
            this.#state = State.Data;
          }
          break;
        case State.Option:
          this.#answer(this.#verb, b, reply);
          this.#state = State.Data;
          break;
        case State.Sub:
          if (b === IAC) this.#state = State.SubCommand;
          break;
        case State.SubCommand:
          this.#state = b === SE ? State.Data : State.Sub;
          break;
      }
    }
    return {
      data: data.subarray(0, n),
      reply: reply.length > 0 ? Uint8Array.from(reply) : null,
    };
  }

  #answer(verb: number, option: number, reply: number[]): void {
    if (verb !== WILL && verb !== DO) return;
    // The client agreeing to what the server asked for needs no answer.
    if (this.#asked.has((verb === WILL ? DO : WILL) * 256 + option)) return;
    const key = verb * 256 + option;
    if (this.#answered.has(key)) return;
    this.#answered.add(key);
    reply.push(IAC, verb === WILL ? DONT : WONT, option);
  }
}
