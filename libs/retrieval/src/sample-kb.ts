import { KnowledgeDocument } from './knowledge-base';

/** The sample knowledge base ingested at start: policies and FAQ of the demo shop. */
export function sampleKnowledgeBase(tenantId: string): KnowledgeDocument[] {
  const doc = (docId: string, title: string, text: string): KnowledgeDocument => ({ tenantId, docId, version: 1, title, text, uri: `kb://${docId}` });
  return [
    doc('returns-policy', 'Returns policy', `
You can return most items within 30 days of delivery for a full refund. Items must be unused and in their original packaging.

To start a return, open the order in your account and choose "Return items". We email a prepaid return label within one business day.

Refunds are issued to the original payment method within 5 business days after we receive the returned item. Return shipping is free for defective or incorrect items; otherwise a flat $5.95 return shipping fee is deducted from the refund.

Final-sale items, gift cards and opened software cannot be returned.`),
    doc('shipping-policy', 'Shipping policy', `
Orders placed before 2 pm Eastern time on a business day ship the same day. Orders placed later, on weekends or on holidays ship the next business day.

Standard ground shipping takes 3 to 5 business days and is free on orders over $50. Express shipping takes 2 business days and overnight shipping arrives the next business day.

Carriers do not deliver on Sundays, and Saturday delivery is available only with overnight shipping. Delivery estimates are given by the carrier and are not guaranteed.

Once an order ships you receive a tracking number by email. Tracking can take up to 24 hours to show the first scan.`),
    doc('warranty-policy', 'Warranty policy', `
Every product comes with a one-year limited warranty against defects in materials and workmanship, starting on the delivery date.

The warranty does not cover accidental damage, normal wear, or damage from unauthorised repairs. Extended two-year protection plans can be bought within 30 days of delivery.

To make a warranty claim, contact support with your order number and a photo or video of the defect. We repair, replace or refund the item at our discretion.`),
    doc('product-faq', 'Product FAQ', `
All our headphones support Bluetooth 5.3 and come with a USB-C charging cable. Battery life is up to 30 hours with noise cancelling off.

Our laptop stands are made of recycled aluminium and fit laptops from 10 to 17 inches.

Gift wrapping is available at checkout for $4.99 per order. You can change or cancel an order within one hour of placing it.`),
  ];
}
