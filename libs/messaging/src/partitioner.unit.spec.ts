import { Partitioners, PartitionMetadata } from 'kafkajs';
import { murmur2, partitionFor } from './partitioner';

/*
 * The embedded log must place a key on the partition index a real Kafka producer would, so a
 * workflow's messages keep their partition (and their order) whichever transport carries them.
 */
describe('murmur2', () => {
  // Apache Kafka's own reference vectors (clients UtilsTest.testMurmur2): signed 32-bit results.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
    ['', 275646681],
  ])('hashes %j like the Java client (%d)', (input, expected) => {
    expect(murmur2(Buffer.from(input))).toBe(expected);
  });

  // KafkaJS's Java-compatible vectors, generated with Kafka's Java murmur2 (kafkajs
  // src/producer/partitioners/defaultJava/murmur2.spec.js); they cover every tail length (1-9 bytes).
  it.each([
    ['0', 971027396], ['1', -1993445489], ['128', -326012175], ['2187', -1508407203], ['16384', -325739742],
    ['78125', -1654490814], ['279936', 1462227128], ['823543', -2014198330], ['2097152', 607668903],
    ['4782969', -1182699775], ['10000000', -1830336757], ['19487171', -1603849305], ['35831808', -857013643],
    ['62748517', -1167431028], ['105413504', -381294639], ['170859375', -1658323481], ['100:48069', 1009543857],
  ])('hashes %j like KafkaJS\'s Java-compatible partitioner (%d)', (input, expected) => {
    expect(murmur2(Buffer.from(input))).toBe(expected);
  });

  it('is not KafkaJS\'s legacy (pre-2.0, non-Java) murmur2, which places keys elsewhere', () => {
    // The legacy vectors from kafkajs 1.x src/producer/partitioners/default/murmur2.spec.js.
    expect(murmur2(Buffer.from('0'))).not.toBe(272173970);
    expect(murmur2(Buffer.from('1'))).not.toBe(1311020360);
  });
});

describe('partitionFor', () => {
  it('is the positive murmur2 modulo the partition count, as Kafka computes it', () => {
    // (-790332482 & 0x7fffffff) = 1357151166
    expect(partitionFor('foobar', 10)).toBe(6);
    expect(partitionFor('foobar', 50)).toBe(16);
    expect(partitionFor('21', 6)).toBe((-973932308 & 0x7fffffff) % 6);
  });

  it('hashes the UTF-8 bytes of the key, not its UTF-16 code units', () => {
    const key = 'zürich-東京-🚢';
    expect(partitionFor(key, 97)).toBe((murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % 97);
  });

  it('always returns a partition that exists', () => {
    for (let i = 0; i < 500; i++) {
      const p = partitionFor(`wf_${i}`, 6);
      expect(Number.isInteger(p) && p >= 0 && p < 6).toBe(true);
    }
  });

  it('agrees with the KafkaJS producer\'s default partitioner for every key and partition count', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const meta = (n: number): PartitionMetadata[] =>
      [...Array(n).keys()].map((partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 1, replicas: [1], isr: [1] }));
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'wf_0123456789abcdef', 'tenant-a:req-1', 'zürich', '東京', ...[...Array(200).keys()].map((i) => `key-${i * 7919}`)];
    for (const n of [1, 2, 3, 6, 12, 50]) {
      for (const key of keys) {
        expect([key, n, partitionFor(key, n)]).toEqual([key, n, kafkajs({ topic: 't', partitionMetadata: meta(n), message: { key, value: null } })]);
      }
    }
  });
});
