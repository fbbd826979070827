export { startSampleBusiness } from './server';
export type { SampleBusiness, SampleBusinessOptions, SampleBusinessStats, Refund } from './server';
export { CARRIERS, SERVICES, distanceZone, transitBusinessDays } from './eta';
export type { Carrier, Service, Zone } from './eta';
export type { Address, Customer, Order, OrderContact, OrderItem, OrderStatus, Place, Product, Shipment, ShipmentStatus } from './seed';
