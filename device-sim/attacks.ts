/**
 * Attack modes of the fleet runner: each plays one misbehaving (or hostile) device against the gateway and
 * reports the code the gateway answered with. Every attack uses its own freshly onboarded device, so the
 * fleet's numbers stay clean. CONNECT refusals are reported as CONNACK_<reason> (MQTT 3.1.1 return codes).
 */
import {
  CT_READING, createConnectToken, createSign1, decodeSign1, decodeStrict, deviceIdFromKey, deviceIdToHex, encode, keyThumbprint,
  publicKey, readingClaimsToMap, readingsTopic, signReading, Tag, CLAIM_BIOMETRIC, CLAIM_SENSOR, COSE_SIGN1_TAG,
  type ReadingClaims,
} from '../protocol/index.js';
import mqtt from 'mqtt';
import type { Agency } from './agency.js';
import { ConnackRefused } from './connack.js';
import type { Device } from './device.js';
import { deviceFrom, onboardDevice, SIM_FIRMWARE, type GatewayEndpoint } from './onboard.js';
import { createSecureElement } from './secure-element.js';
import type { DeviceKind } from './state.js';
import { EXPECTED, type AttackName } from './attack-names.js';

export { ATTACKS, ATTACK_HELP, EXPECTED, isAttackName, type AttackName } from './attack-names.js';

export interface AttackResult {
  name: AttackName;
  expected: string;
  got: string | null;
  ok: boolean;
  detail: string;
}

export interface AttackContext {
  agency: Agency;
  gateway: GatewayEndpoint & { aud: string; checkpointVerifierKey: string };
  maxReadingBytes: number;
  timeoutMs: number;
}

const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newDevice(ctx: AttackContext, kind: DeviceKind = 'temperature-sensor', extra: { exp?: number; nbf?: number; register?: boolean } = {}): Promise<Device> {
  const o = await onboardDevice(ctx.agency, { gateway: ctx.gateway, kind, ...extra });
  return deviceFrom(o, { resendTimeoutMs: 60_000, reconnectMinMs: 100 });
}

async function connectCode(d: Device): Promise<string | null> {
  try {
    await d.connect();
    return null;
  } catch (err) {
    if (err instanceof ConnackRefused) return err.code;
    throw err;
  }
}

/** Send raw bytes on the device's topic and return the code of the rejection that answers them. */
async function rejectedWith(d: Device, ctx: AttackContext, bytes: Uint8Array, topic?: string): Promise<string> {
  const answer = d.nextRejection(ctx.timeoutMs);
  d.publishRaw(bytes, topic);
  return (await answer).code;
}

const ATTACK_FNS: Record<AttackName, (ctx: AttackContext) => Promise<{ got: string | null; detail: string }>> = {
  async tampered(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      const { bytes } = await d.signOnly({ kind: 'sensor', type: 'temperature', value: 215, scale: -1, unit: 'Cel' });
      const s = decodeSign1(bytes);
      const claims = decodeStrict(s.payload) as Map<unknown, unknown>;
      (claims.get(CLAIM_SENSOR) as Map<number, unknown>).set(2, 415); // 21.5 °C becomes 41.5 °C after signing
      const forged = encode(new Tag([s.protectedBytes, new Map(), encode(claims), s.signature], COSE_SIGN1_TAG));
      return { got: await rejectedWith(d, ctx, forged), detail: 'value 215 -> 415 after signing' };
    } finally {
      await d.close();
    }
  },

  async replay(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      const seq = (await d.sendReading())!;
      await d.nextReceipt(seq, ctx.timeoutMs);
      // The same bytes again would get the original receipt (a resend); other bytes under the same seq are a replay.
      const { bytes } = await d.signOnly({ kind: 'sensor', type: 'temperature', value: 999, scale: -1, unit: 'Cel' }, { seq });
      return { got: await rejectedWith(d, ctx, bytes), detail: `seq ${seq} reused with different content` };
    } finally {
      await d.close();
    }
  },

  async 'wrong-key'(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      const rogue = createSecureElement(-8);
      const claims: ReadingClaims = {
        deviceId: deviceIdFromKey(publicKey(rogue.alg, rogue.publicKey)), seq: d.nextSeq, iat: nowS(), firmware: SIM_FIRMWARE,
        body: { kind: 'sensor', type: 'temperature', value: 200, scale: -1, unit: 'Cel' },
      };
      return { got: await rejectedWith(d, ctx, await signReading(rogue, claims)), detail: 'signed by an unregistered key' };
    } finally {
      await d.close();
    }
  },

  async unregistered(ctx) {
    const d = await newDevice(ctx, 'temperature-sensor', { register: false });
    try {
      return { got: await connectCode(d), detail: 'certificate issued but never registered' };
    } finally {
      await d.close();
    }
  },

  async revoked(ctx) {
    const o = await onboardDevice(ctx.agency, { gateway: ctx.gateway, kind: 'temperature-sensor' });
    const d = deviceFrom(o, { resendTimeoutMs: 60_000 });
    try {
      await d.connect();
      const seq = (await d.sendReading())!;
      await d.nextReceipt(seq, ctx.timeoutMs);
      await ctx.agency.revoke(ctx.gateway.httpUrl, o.cert, { revokedFrom: nowS(), reason: 'keyCompromise' });
      const answer = d.nextRejection(ctx.timeoutMs);
      await d.sendReading();
      const got = (await answer).code;
      await d.close();
      const again = deviceFrom(o);
      const reconnect = await connectCode(again);
      await again.close();
      return { got, detail: `reading before revocation receipted; after: ${got}; reconnect: ${reconnect ?? 'accepted'}` };
    } finally {
      await d.close();
    }
  },

  async expired(ctx) {
    const t = nowS();
    const d = await newDevice(ctx, 'temperature-sensor', { nbf: t - 86_400, exp: t + 3 });
    try {
      await d.connect();
      while (nowS() < t + 3) await sleep(100);
      const answer = d.nextRejection(ctx.timeoutMs);
      await d.sendReading();
      return { got: (await answer).code, detail: 'certificate valid for 3 s; reading sent after it ended' };
    } finally {
      await d.close();
    }
  },

  async 'clock-skew'(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      d.clock.setDrift(3600); // the RTC jumps an hour ahead after the connection was made
      const answer = d.nextRejection(ctx.timeoutMs);
      await d.sendReading();
      return { got: (await answer).code, detail: 'iat 3600 s ahead of the gateway' };
    } finally {
      await d.close();
    }
  },

  async oversized(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      const claims = readingClaimsToMap({
        deviceId: deviceIdFromKey(publicKey(d.se.alg, d.se.publicKey)), seq: d.nextSeq, iat: nowS(), firmware: SIM_FIRMWARE,
        body: { kind: 'sensor', type: 'temperature', value: 200, scale: -1, unit: 'Cel' },
      });
      claims.set(-65543, new Uint8Array(ctx.maxReadingBytes + 512).fill(0x55));
      const bytes = await createSign1({ signer: d.se, payload: encode(claims), kid: keyThumbprint(publicKey(d.se.alg, d.se.publicKey)), contentType: CT_READING });
      return { got: await rejectedWith(d, ctx, bytes), detail: `${bytes.length} bytes, limit ${ctx.maxReadingBytes}` };
    } finally {
      await d.close();
    }
  },

  async malformed(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      const { bytes } = await d.signOnly();
      return { got: await rejectedWith(d, ctx, bytes.subarray(0, bytes.length - 7)), detail: 'COSE_Sign1 cut short by 7 bytes' };
    } finally {
      await d.close();
    }
  },

  async 'biometric-raw'(ctx) {
    const d = await newDevice(ctx, 'fingerprint-reader');
    try {
      await d.connect();
      const key = publicKey(d.se.alg, d.se.publicKey);
      const claims = readingClaimsToMap({
        deviceId: deviceIdFromKey(key), seq: d.nextSeq, iat: nowS(), firmware: SIM_FIRMWARE,
        body: { kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: new Uint8Array(32).fill(7) },
      });
      // An ISO/IEC 19794-2 minutiae template smuggled into the event: never allowed on the wire.
      const template = new Uint8Array(300);
      template.set([0x46, 0x4d, 0x52, 0x00, 0x20, 0x32, 0x30, 0x00]);
      for (let i = 8; i < template.length; i++) template[i] = (i * 37) & 0xff;
      (claims.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(5, template);
      const bytes = await createSign1({ signer: d.se, payload: encode(claims), kid: keyThumbprint(key), contentType: CT_READING });
      return { got: await rejectedWith(d, ctx, bytes), detail: '300-byte FMR template in the biometric body' };
    } finally {
      await d.close();
    }
  },

  async 'topic-mismatch'(ctx) {
    const d = await newDevice(ctx);
    try {
      await d.connect();
      const other = createSecureElement(-8);
      const otherId = deviceIdToHex(deviceIdFromKey(publicKey(other.alg, other.publicKey)));
      const closed = new Promise<boolean>((resolve) => {
        d.once('disconnected', () => resolve(true));
        setTimeout(() => resolve(false), ctx.timeoutMs).unref();
      });
      const { bytes } = await d.signOnly();
      const got = await rejectedWith(d, ctx, bytes, readingsTopic(otherId));
      const wasClosed = await closed;
      return { got, detail: `published on ${otherId.slice(0, 10)}..'s topic; connection closed: ${wasClosed ? 'yes' : 'no'}` };
    } finally {
      await d.close();
    }
  },

  async impersonate(ctx) {
    const victim = await newDevice(ctx);
    const attacker = createSecureElement(-8);
    const t = nowS();
    const token = await createConnectToken(attacker, { sub: victim.id, aud: ctx.gateway.aud, iat: t, exp: t + 300 });
    const got = await connackRefusal(ctx, victim.id, token);
    return { got, detail: got === null ? 'connected as another device!' : `client id ${victim.id.slice(0, 10)}.., token signed by another key` };
  },

  async 'token-replay'(ctx) {
    // The device connects with a token an eavesdropper sees (plain MQTT); the eavesdropper then connects with it.
    const victim = await newDevice(ctx);
    const t = nowS();
    const token = await createConnectToken(victim.se, { aud: ctx.gateway.aud, iat: t, exp: t + 300 });
    const first = await connackRefusal(ctx, victim.id, token);
    if (first !== null) return { got: null, detail: `the device's own connection was refused (${first})` };
    const got = await connackRefusal(ctx, victim.id, token);
    return { got, detail: got === null ? "connected with the device's used token!" : `client id ${victim.id.slice(0, 10)}.., the token the device connected with moments before` };
  },
};

/** Connect with client id = username = `id` and `token` as the password; the CONNACK refusal's code, or null. */
async function connackRefusal(ctx: AttackContext, id: string, token: Uint8Array): Promise<string | null> {
  try {
    const c = await mqtt.connectAsync(ctx.gateway.mqttUrl, {
      clientId: id, username: id, password: Buffer.from(token), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4,
      ...(ctx.gateway.tlsCa ? { ca: ctx.gateway.tlsCa } : {}),
    });
    await c.endAsync(true);
    return null;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'number' ? new ConnackRefused(code).code : String((err as Error).message);
  }
}

/** An attack of a run stopped (a signal) before the attacks began: not run, so not passed. */
export function notRun(name: AttackName): AttackResult {
  return { name, expected: EXPECTED[name], got: null, ok: false, detail: 'not run: the run was stopped before the attacks began' };
}

export async function runAttack(name: AttackName, ctx: AttackContext): Promise<AttackResult> {
  const expected = EXPECTED[name];
  try {
    const { got, detail } = await ATTACK_FNS[name](ctx);
    return { name, expected, got, ok: got === expected, detail };
  } catch (err) {
    return { name, expected, got: null, ok: false, detail: `error: ${(err as Error).message}` };
  }
}

