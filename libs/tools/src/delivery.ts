/**
 * The delivery-estimate analysis: calendar arithmetic on `YYYY-MM-DD` dates in UTC, with business
 * days Monday to Friday. Pure, so the answer to "will it arrive by Friday?" depends only on its inputs.
 * Public holidays are not modelled.
 */

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function toDay(date: string): number {
  if (!DATE.test(date)) throw new RangeError(`not a YYYY-MM-DD date: ${date}`);
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== date) throw new RangeError(`not a calendar date: ${date}`);
  return ms / DAY_MS;
}

function fromDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function isWeekday(day: number): boolean {
  const dow = new Date(day * DAY_MS).getUTCDay();
  return dow !== 0 && dow !== 6;
}

/** The UTC calendar date of an ISO timestamp (`2025-03-11T23:48:00-08:00` → `2025-03-12`). */
export function utcDate(timestamp: string): string {
  const ms = Date.parse(timestamp);
  if (Number.isNaN(ms)) throw new RangeError(`not a timestamp: ${timestamp}`);
  return new Date(ms).toISOString().slice(0, 10);
}

export function isBusinessDay(date: string): boolean {
  return isWeekday(toDay(date));
}

/** The first business day strictly after `date`. */
export function nextBusinessDayAfter(date: string): string {
  let day = toDay(date) + 1;
  while (!isWeekday(day)) day += 1;
  return fromDay(day);
}

/**
 * `date` plus `days` business days: Friday + 1 is Monday, Saturday + 1 is Monday. With 0 days a
 * weekend date rolls forward to Monday, since nothing is delivered on a day that is not counted.
 */
export function addBusinessDays(date: string, days: number): string {
  if (!Number.isInteger(days) || days < 0) throw new RangeError(`business days must be a whole number >= 0, got ${days}`);
  let day = toDay(date);
  if (days === 0) {
    while (!isWeekday(day)) day += 1;
    return fromDay(day);
  }
  let remaining = days;
  while (remaining > 0) {
    day += 1;
    if (isWeekday(day)) remaining -= 1;
  }
  return fromDay(day);
}

/**
 * When a shipment in transit should arrive: the ship date plus the carrier's transit business days,
 * but never in the past — a parcel that is late yet undelivered is expected the next business day
 * after today.
 */
export function estimateDeliveryDate(input: { shippedOn: string; transitBusinessDays: number; today: string }): string {
  toDay(input.today);
  const computed = addBusinessDays(input.shippedOn, input.transitBusinessDays);
  return computed < input.today ? nextBusinessDayAfter(input.today) : computed;
}

export interface DeliveryEstimateAvailable {
  available: true;
  carrier: string;
  service: string;
  transitBusinessDays: number;
  estimatedDelivery: string;
  deadline?: string;
  meetsDeadline?: boolean;
}
export interface DeliveryEstimateUnavailable {
  available: false;
  reason: string;
}
export type DeliveryEstimate = DeliveryEstimateAvailable | DeliveryEstimateUnavailable;

/** Adds `deadline` and `meetsDeadline` (delivery on the deadline day counts) when a deadline is given. */
export function judgeDeadline(estimate: Omit<DeliveryEstimateAvailable, 'deadline' | 'meetsDeadline'>, deadline: string | null | undefined): DeliveryEstimateAvailable {
  if (deadline === null || deadline === undefined) return { ...estimate };
  toDay(deadline);
  return { ...estimate, deadline, meetsDeadline: estimate.estimatedDelivery <= deadline };
}
