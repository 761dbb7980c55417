/**
 * A number that changes from one event-loop iteration to the next: callbacks that see the same
 * number ran in the same iteration (for instance, every onData uWS calls from one poll callback).
 * Only iterations in which someone asked are counted: one setImmediate per such iteration.
 */
let turn = 0;
let bumpQueued = false;
function bump(): void {
  turn++;
  bumpQueued = false;
}

export function loopTurn(): number {
  if (!bumpQueued) {
    bumpQueued = true;
    setImmediate(bump);
  }
  return turn;
}
