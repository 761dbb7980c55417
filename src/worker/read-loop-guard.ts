/**
 * uSockets (uWS 20.57) reads a socket again at once, without looking at pause(), for as long as
 * each read fills its whole receive buffer (LIBUS_RECV_BUFFER_LENGTH, 512 KiB): a client that keeps
 * the kernel's queue above that (it sends faster than the worker takes its bytes: a fast upload, a
 * WebSocket flood) keeps the worker in that loop, its bytes piling up in memory and every other
 * connection of the worker waiting. When more than one such buffer arrives from one socket within
 * one event-loop iteration (so: that loop, whatever the framing), the socket's SO_RCVBUF is set to
 * LIMITED_RECEIVE_BUFFER (the kernel doubles it, and its queue then never holds 512 KiB of data):
 * reads come back short, the loop ends, and pause() holds. Only such connections lose the kernel's
 * buffer autotuning. docs/security.md, row 18.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { limitReceiveBuffer } from '../native/uws-head.js';
import { loopTurn } from '../util/loop-turn.js';

const UWS_RECEIVE_BUFFER = 512 * 1024;
const LIMITED_RECEIVE_BUFFER = 192 * 1024;

export class ReadLoopGuard {
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
    if (this.bytes <= UWS_RECEIVE_BUFFER) return;
    this.limited = true;
    limitReceiveBuffer(this.socket, LIMITED_RECEIVE_BUFFER);
  }
}
