/** The respond action: the route's fixed answer, written by the transaction itself. */
import type { RouteAction } from '../../runtime/compile.js';
import { Transaction } from '../transaction.js';

export const respondAction: RouteAction = {
  create: (res, head, route, host) => new Transaction(res, head, route, host, route.bodyMode),
};
