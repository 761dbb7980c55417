/**
 * uSockets (uWS 20.57) reads a socket again at once, without looking at pause(), for as long as
 * each read fills its whole receive buffer (LIBUS_RECV_BUFFER_LENGTH, 512 KiB): a client that keeps
 * the kernel's queue above that (it sends faster than the worker takes its bytes: a fast upload)
 * keeps the worker in that loop, its bytes piling up in memory and every other connection of the
 * worker waiting. When more than LOOP_BYTES of one body arrive within one event-loop iteration (so:
 * that loop, whatever the framing), the socket's SO_RCVBUF is set to LIMITED_RECEIVE_BUFFER (the
 * kernel doubles it, and its queue then never holds 512 KiB of data): reads come back short, the
 * loop ends, and pause() holds. Only such connections lose the kernel's buffer autotuning.
 * docs/security.md, row 18.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { limitReceiveBuffer } from '../native/uws-head.js';
import { loopTurn } from '../util/loop-turn.js';

/**
 * More than the kernel's default receive queue holds at most (tcp_rmem's maximum, 6 MiB): reading
 * out what queued up while a body was paused is not the loop this is for; a client refilling the
 * socket as fast as the worker reads it is. A connection piles up about this much plus its queue
 * before its limit.
 */
const LOOP_BYTES = 8 * 1024 * 1024;
const LIMITED_RECEIVE_BUFFER = 192 * 1024;

export class ReadLoopGuard {
  /** A body of this length (-1: chunked) can show the loop: a shorter one never needs a guard. */
  static needed(length: number): boolean {
    return length < 0 || length > LOOP_BYTES;
  }

  private turn = -1;
  private bytes = 0;
  private limited = false;

  constructor(private readonly socket: HttpResponse) {}

  /** `len` bytes of a request body came from the socket. */
  received(len: number): void {
    if (this.limited) return;
    const turn = loopTurn();
    if (turn !== this.turn) {
      this.turn = turn;
      this.bytes = 0;
    }
    this.bytes += len;
    if (this.bytes <= LOOP_BYTES) return;
    this.limited = true;
    limitReceiveBuffer(this.socket, LIMITED_RECEIVE_BUFFER);
  }
}
