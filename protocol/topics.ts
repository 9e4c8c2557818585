/** MQTT topics (firmware-specs/SPEC.md §Topics). D is the device id: 34 lowercase hex characters (UEID). */
export const TOPIC_PREFIX = 'op/v1/d/';
export type TopicKind = 'readings' | 'receipts' | 'rejections';

const DEVICE_ID = /^[0-9a-f]{34}$/;

export function isDeviceIdHex(id: string): boolean {
  return DEVICE_ID.test(id);
}

export function readingsTopic(deviceId: string): string {
  return `${TOPIC_PREFIX}${deviceId}/readings`;
}
export function receiptsTopic(deviceId: string): string {
  return `${TOPIC_PREFIX}${deviceId}/receipts`;
}
export function rejectionsTopic(deviceId: string): string {
  return `${TOPIC_PREFIX}${deviceId}/rejections`;
}

/** Parse one of our topics; null for anything else (wildcards included). */
export function parseTopic(topic: string): { deviceId: string; kind: TopicKind } | null {
  if (!topic.startsWith(TOPIC_PREFIX)) return null;
  const rest = topic.slice(TOPIC_PREFIX.length).split('/');
  if (rest.length !== 2) return null;
  const [deviceId, kind] = rest as [string, string];
  if (!isDeviceIdHex(deviceId)) return null;
  if (kind !== 'readings' && kind !== 'receipts' && kind !== 'rejections') return null;
  return { deviceId, kind };
}
