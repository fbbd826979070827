import { Carrier, Service } from './eta';

export type OrderStatus = 'processing' | 'shipped' | 'in_transit' | 'delivered' | 'cancelled';
export type ShipmentStatus = 'label_created' | 'in_transit' | 'out_for_delivery' | 'delivered';

export interface Place {
  city: string;
  region: string;
  postalCode: string;
}
/** A street address: personal data, seen only by its owner (the validator's PII guard enforces it). */
export interface Address extends Place {
  line1: string;
  country: string;
}

export interface OrderItem {
  sku: string;
  name: string;
  quantity: number;
  unitPrice: number;
}

/** Who placed an order and how to reach them, as the shop's order system records it. */
export interface OrderContact {
  name: string;
  email: string;
  phone: string;
}

export interface Order {
  orderId: string;
  customerId: string;
  customer: OrderContact;
  status: OrderStatus;
  placedAt: string;
  items: OrderItem[];
  total: number;
  currency: 'USD';
  shippingMethod: Service;
  destination: Address;
}

export interface Shipment {
  orderId: string;
  carrier: Carrier;
  service: Service;
  trackingNumber: string;
  status: ShipmentStatus;
  shippedAt: string;
  deliveredAt?: string;
  lastScan: { location: string; at: string; description: string };
  origin: Place;
  destination: Place;
}

export interface Product {
  sku: string;
  name: string;
  description: string;
  category: string;
  price: number;
  currency: 'USD';
  inStock: boolean;
}

export interface Customer {
  customerId: string;
  name: string;
  email: string;
  phone: string;
  address: Address;
}

export interface SeedData {
  customers: Customer[];
  orders: Order[];
  shipments: Shipment[];
  products: Product[];
}

/** Whole cents, so money never picks up floating-point dust. */
export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

/** The ISO timestamp of `now`'s UTC calendar day shifted by `dayOffset`, at `hhmm` UTC. */
function dayAt(now: Date, dayOffset: number, hhmm: string): string {
  const [h, m] = hhmm.split(':').map(Number);
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + dayOffset, h, m)).toISOString();
}

const WAREHOUSE: Place = { city: 'Columbus', region: 'OH', postalCode: '43219' };

const PRODUCTS: Product[] = [
  { sku: 'SKU-TR-100', name: 'Trail Runner 2 Shoes', description: 'Lightweight trail running shoes with a grippy outsole.', category: 'footwear', price: 129.99, currency: 'USD', inStock: true },
  { sku: 'SKU-MS-200', name: 'Merino Wool Hiking Socks', description: 'Cushioned merino socks for long days on the trail.', category: 'apparel', price: 18.5, currency: 'USD', inStock: true },
  { sku: 'SKU-RS-300', name: 'Packable Rain Shell Jacket', description: 'Waterproof, breathable rain jacket that packs into its pocket.', category: 'apparel', price: 89, currency: 'USD', inStock: true },
  { sku: 'SKU-IB-400', name: 'Insulated Water Bottle 750 ml', description: 'Keeps drinks cold for 24 hours or hot for 12.', category: 'gear', price: 24.95, currency: 'USD', inStock: true },
  { sku: 'SKU-HL-500', name: 'Rechargeable Headlamp', description: '400-lumen USB-C rechargeable headlamp.', category: 'gear', price: 39.99, currency: 'USD', inStock: true },
  { sku: 'SKU-CS-600', name: 'Compact Camp Stove', description: 'Folding canister stove that boils a litre in four minutes.', category: 'gear', price: 64.5, currency: 'USD', inStock: true },
  { sku: 'SKU-DJ-700', name: 'Down Jacket', description: '800-fill down jacket for cold mornings.', category: 'apparel', price: 199, currency: 'USD', inStock: false },
  { sku: 'SKU-TP-800', name: 'Two-Person Backpacking Tent', description: 'Freestanding three-season tent, 1.6 kg.', category: 'gear', price: 249, currency: 'USD', inStock: true },
];

function item(sku: string, quantity: number): OrderItem {
  const p = PRODUCTS.find((x) => x.sku === sku);
  if (!p) throw new Error(`seed refers to unknown sku ${sku}`);
  return { sku: p.sku, name: p.name, quantity, unitPrice: p.price };
}

function order(fields: Omit<Order, 'total' | 'currency' | 'customerId' | 'customer' | 'destination'>, customer: Customer): Order {
  const cents = fields.items.reduce((sum, i) => sum + toCents(i.unitPrice) * i.quantity, 0);
  const { orderId, ...rest } = fields;
  return {
    orderId, customerId: customer.customerId, customer: { name: customer.name, email: customer.email, phone: customer.phone },
    ...rest, total: cents / 100, currency: 'USD', destination: { ...customer.address },
  };
}

function place(a: Address): Place {
  return { city: a.city, region: a.region, postalCode: a.postalCode };
}

/**
 * The sample data, dated relative to `now` so that "shipped yesterday" is always yesterday.
 *
 * - 1001 in_transit, UPS ground, shipped yesterday from Columbus OH to Seattle WA (zone 3: 4 business
 *   days), so "will it arrive by tomorrow?" is "no" whatever weekday `now` falls on.
 * - 1002 delivered three days ago (USPS ground to Chicago).
 * - 1003 processing, not shipped.
 * - 1004 in_transit, FedEx express, shipped yesterday to Chicago (zone 2: 1 business day).
 * - 1005 cancelled before shipping.
 *
 * Two customers own them (Jordan Rivera: 1001, 1003, 1005; Sam Patel: 1002, 1004). Each order carries
 * its customer's contact details and street address, so an order lookup returns personal data that
 * must reach no one but its owner.
 */
export function createSeed(now: Date): SeedData {
  const jordan: Customer = {
    customerId: 'C-100',
    name: 'Jordan Rivera',
    email: 'jordan.rivera@example.com',
    phone: '+1 206-555-0142',
    address: { line1: '1420 Pine Street', city: 'Seattle', region: 'WA', postalCode: '98101', country: 'US' },
  };
  const sam: Customer = {
    customerId: 'C-200',
    name: 'Sam Patel',
    email: 'sam.patel@example.com',
    phone: '+1 312-555-0199',
    address: { line1: '2231 N Clark Street', city: 'Chicago', region: 'IL', postalCode: '60614', country: 'US' },
  };

  const orders: Order[] = [
    order({
      orderId: '1001', status: 'in_transit', placedAt: dayAt(now, -3, '18:12'),
      items: [item('SKU-TR-100', 1), item('SKU-MS-200', 2)], shippingMethod: 'ground',
    }, jordan),
    order({
      orderId: '1002', status: 'delivered', placedAt: dayAt(now, -8, '10:31'),
      items: [item('SKU-RS-300', 1)], shippingMethod: 'ground',
    }, sam),
    order({
      orderId: '1003', status: 'processing', placedAt: new Date(now.getTime() - 2 * 3600_000).toISOString(),
      items: [item('SKU-IB-400', 2)], shippingMethod: 'express',
    }, jordan),
    order({
      orderId: '1004', status: 'in_transit', placedAt: dayAt(now, -2, '09:15'),
      items: [item('SKU-HL-500', 1), item('SKU-CS-600', 1)], shippingMethod: 'express',
    }, sam),
    order({
      orderId: '1005', status: 'cancelled', placedAt: dayAt(now, -10, '20:02'),
      items: [item('SKU-DJ-700', 1)], shippingMethod: 'ground',
    }, jordan),
  ];

  const shipments: Shipment[] = [
    {
      orderId: '1001', carrier: 'UPS', service: 'ground', trackingNumber: '1Z4F7W390312345678', status: 'in_transit',
      shippedAt: dayAt(now, -1, '16:05'),
      lastScan: { location: 'Indianapolis, IN', at: dayAt(now, -1, '23:48'), description: 'Departed from facility' },
      origin: WAREHOUSE, destination: place(jordan.address),
    },
    {
      orderId: '1002', carrier: 'USPS', service: 'ground', trackingNumber: '9400111899562846301375', status: 'delivered',
      shippedAt: dayAt(now, -6, '17:20'), deliveredAt: dayAt(now, -3, '15:42'),
      lastScan: { location: 'Chicago, IL', at: dayAt(now, -3, '15:42'), description: 'Delivered, front door/porch' },
      origin: WAREHOUSE, destination: place(sam.address),
    },
    {
      orderId: '1004', carrier: 'FedEx', service: 'express', trackingNumber: '771234567890', status: 'in_transit',
      shippedAt: dayAt(now, -1, '19:30'),
      lastScan: { location: 'Memphis, TN', at: dayAt(now, -1, '23:10'), description: 'Arrived at FedEx hub' },
      origin: WAREHOUSE, destination: place(sam.address),
    },
  ];

  return { customers: [jordan, sam], orders, shipments, products: PRODUCTS.map((p) => ({ ...p })) };
}
