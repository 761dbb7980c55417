/** True for a Promise (or any thenable): how the pipeline tells a sync result from an async one. */
export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as Promise<T> | undefined)?.then === 'function';
}
