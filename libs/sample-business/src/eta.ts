/** The carriers and service levels the sample business ships with, as the ETA endpoint names them. */
export const CARRIERS = ['UPS', 'FedEx', 'USPS'] as const;
export type Carrier = (typeof CARRIERS)[number];
export const SERVICES = ['ground', 'express', 'overnight'] as const;
export type Service = (typeof SERVICES)[number];

/** Distance zone 1 (same area) … 4 (across the country). */
export type Zone = 1 | 2 | 3 | 4;

/** Transit time in business days per carrier and service, indexed by zone - 1. Weekends are not counted here. */
const TRANSIT: Record<Carrier, Record<Service, readonly [number, number, number, number]>> = {
  UPS: { ground: [1, 2, 4, 5], express: [1, 1, 2, 2], overnight: [1, 1, 1, 1] },
  FedEx: { ground: [1, 2, 4, 5], express: [1, 1, 2, 2], overnight: [1, 1, 1, 1] },
  USPS: { ground: [2, 3, 4, 5], express: [1, 2, 2, 3], overnight: [1, 1, 1, 2] },
};

export const POSTAL_CODE = /^\d{5}$/;

/**
 * The distance zone between two US ZIP codes, from how far apart their first digits (the national
 * area) are. Crude, but deterministic and plausible enough for a stand-in.
 */
export function distanceZone(origin: string, destination: string): Zone {
  const gap = Math.abs(Number(origin[0]) - Number(destination[0]));
  if (gap === 0) return 1;
  if (gap <= 2) return 2;
  if (gap <= 5) return 3;
  return 4;
}

/** The carrier a path segment names, case-insensitively (`ups`, `FEDEX`), or undefined. */
export function findCarrier(name: string): Carrier | undefined {
  return CARRIERS.find((c) => c.toLowerCase() === name.toLowerCase());
}

export function isService(value: string): value is Service {
  return (SERVICES as readonly string[]).includes(value);
}

/** Business days in transit for a carrier and service between two ZIP codes. */
export function transitBusinessDays(carrier: Carrier, service: Service, origin: string, destination: string): number {
  return TRANSIT[carrier][service][distanceZone(origin, destination) - 1];
}
