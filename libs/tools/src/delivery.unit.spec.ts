import { addBusinessDays, estimateDeliveryDate, isBusinessDay, judgeDeadline, nextBusinessDayAfter, utcDate } from './delivery';

describe('delivery-estimate arithmetic', () => {
  describe('addBusinessDays', () => {
    it.each([
      ['2025-03-12', 1, '2025-03-13', 'Wednesday + 1 is Thursday'],
      ['2025-03-13', 3, '2025-03-18', 'Thursday + 3 skips the weekend to Tuesday'],
      ['2025-03-14', 1, '2025-03-17', 'Friday + 1 is Monday'],
      ['2025-03-14', 5, '2025-03-21', 'Friday + 5 is the next Friday'],
      ['2025-03-15', 1, '2025-03-17', 'Saturday + 1 is Monday'],
      ['2025-03-16', 2, '2025-03-18', 'Sunday + 2 is Tuesday'],
      ['2025-03-11', 10, '2025-03-25', 'two whole weeks'],
      ['2024-01-31', 3, '2024-02-05', 'across a month end and a weekend'],
      ['2024-02-28', 2, '2024-03-01', 'across 29 February in a leap year'],
      ['2025-02-28', 1, '2025-03-03', 'Friday 28 February in a common year + 1 is Monday 3 March'],
      ['2024-12-31', 4, '2025-01-06', 'across a year end'],
      ['2025-03-12', 0, '2025-03-12', 'zero days on a weekday is that day'],
      ['2025-03-15', 0, '2025-03-17', 'zero days on a Saturday rolls to Monday'],
    ])('%s + %i business days = %s (%s)', (date, days, expected) => {
      expect(addBusinessDays(date, days)).toBe(expected);
    });

    it('rejects negative or fractional days and impossible dates', () => {
      expect(() => addBusinessDays('2025-03-12', -1)).toThrow(RangeError);
      expect(() => addBusinessDays('2025-03-12', 1.5)).toThrow(RangeError);
      expect(() => addBusinessDays('2025-02-30', 1)).toThrow('not a calendar date');
      expect(() => addBusinessDays('12/03/2025', 1)).toThrow('not a YYYY-MM-DD date');
    });
  });

  it('knows weekends and the next business day', () => {
    expect([isBusinessDay('2025-03-14'), isBusinessDay('2025-03-15'), isBusinessDay('2025-03-16')]).toEqual([true, false, false]);
    expect(nextBusinessDayAfter('2025-03-13')).toBe('2025-03-14');
    expect(nextBusinessDayAfter('2025-03-14')).toBe('2025-03-17');
    expect(nextBusinessDayAfter('2025-03-15')).toBe('2025-03-17');
    expect(nextBusinessDayAfter('2025-05-30')).toBe('2025-06-02');
  });

  it('takes the UTC date of a timestamp', () => {
    expect(utcDate('2025-03-11T16:05:00.000Z')).toBe('2025-03-11');
    expect(utcDate('2025-03-11T20:00:00-08:00')).toBe('2025-03-12');
  });

  describe('estimateDeliveryDate', () => {
    it('is the ship date plus transit business days when that is today or later', () => {
      expect(estimateDeliveryDate({ shippedOn: '2025-03-11', transitBusinessDays: 4, today: '2025-03-12' })).toBe('2025-03-17');
      expect(estimateDeliveryDate({ shippedOn: '2025-03-11', transitBusinessDays: 1, today: '2025-03-12' })).toBe('2025-03-12');
    });

    it('never lies in the past: a late, undelivered parcel is due the next business day after today', () => {
      // Computed Tuesday 4 March; today is Friday 7 March → Monday 10 March.
      expect(estimateDeliveryDate({ shippedOn: '2025-03-03', transitBusinessDays: 1, today: '2025-03-07' })).toBe('2025-03-10');
      // Today a Sunday → Monday.
      expect(estimateDeliveryDate({ shippedOn: '2025-03-03', transitBusinessDays: 1, today: '2025-03-09' })).toBe('2025-03-10');
    });

    it('order 1001 (UPS ground, 4 days, shipped yesterday) is never due by tomorrow, whatever today is', () => {
      for (let d = 10; d < 17; d++) {
        const today = `2025-03-${d}`;
        const shippedOn = `2025-03-${String(d - 1).padStart(2, '0')}`;
        const tomorrow = `2025-03-${d + 1}`;
        const estimate = estimateDeliveryDate({ shippedOn, transitBusinessDays: 4, today });
        expect(judgeDeadline({ available: true, carrier: 'UPS', service: 'ground', transitBusinessDays: 4, estimatedDelivery: estimate }, tomorrow).meetsDeadline).toBe(false);
      }
    });
  });

  describe('judgeDeadline', () => {
    const base = { available: true as const, carrier: 'UPS', service: 'ground', transitBusinessDays: 2, estimatedDelivery: '2025-03-14' };
    it('delivery on the deadline day meets it; a day later does not', () => {
      expect(judgeDeadline(base, '2025-03-14')).toEqual({ ...base, deadline: '2025-03-14', meetsDeadline: true });
      expect(judgeDeadline(base, '2025-03-13')).toEqual({ ...base, deadline: '2025-03-13', meetsDeadline: false });
    });
    it('adds neither key without a deadline', () => {
      expect(judgeDeadline(base, null)).toEqual(base);
      expect(judgeDeadline(base, undefined)).not.toHaveProperty('meetsDeadline');
    });
  });
});
