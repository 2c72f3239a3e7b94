/**
 * Signed checkpoints. A hash chain shows an edit, a deletion or a re-ordering, but not that
 * its newest entries were cut off; a checkpoint (as CloudTrail's digest files) signs the record
 * count and the head hash with the entity's key, and is exported on its own, so a trail that
 * ends before a checkpoint's `seq` was cut.
 *
 * Line: {"alg", "entity", "head", "k":"ckpt", "kid", "node", "seg", "seq", "time", "trail",
 * "v"} in canonical JSON, signed as such, with `"sig"` (base64) appended. `alg` is `ed25519`,
 * `ecdsa-sha256` (DER signature), `rsa-sha256` (PKCS#1 v1.5), or `none` (no key configured:
 * the checkpoint still bounds truncation by accident, not by an attacker). `kid` names the
 * public key: `sha256:` + hex SHA-256 of its DER SubjectPublicKeyInfo.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { canonical } from './canonical.js'
import { FORMAT_VERSION, type EnvelopeConstants } from './envelope.js'

export type CheckpointAlg = 'ed25519' | 'ecdsa-sha256' | 'rsa-sha256' | 'none'

export interface Signer {
  readonly alg: Exclude<CheckpointAlg, 'none'>
  readonly kid: string
  sign (data: string): string
}

function algOf (key: KeyObject): Exclude<CheckpointAlg, 'none'> {
  const t = key.asymmetricKeyType
  if (t === 'ed25519') return 'ed25519'
  if (t === 'ec') return 'ecdsa-sha256'
  if (t === 'rsa') return 'rsa-sha256'
  throw new Error(`a ${t ?? 'symmetric'} key cannot sign checkpoints (use Ed25519, ECDSA or RSA)`)
}

export function keyId (publicKey: KeyObject): string {
  return 'sha256:' + createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')
}

/** A signer from a PEM private key. Throws a one-line Error for anything else. */
export function loadSigner (pem: string): Signer {
  let key: KeyObject
  try { key = createPrivateKey(pem) } catch (err) {
    throw new Error(`not a PEM private key: ${(err as Error).message.split('\n')[0]}`)
  }
  const alg = algOf(key)
  const kid = keyId(createPublicKey(key))
  const digest = alg === 'ed25519' ? null : 'sha256'
  return { alg, kid, sign: (data: string) => sign(digest, Buffer.from(data), key).toString('base64') }
}

/** The public key of a PEM public key, private key or X.509 certificate (what `verify --key` takes). */
export function loadPublicKey (pem: string): KeyObject {
  if (pem.includes('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem).publicKey
  if (pem.includes('PRIVATE KEY-----')) return createPublicKey(createPrivateKey(pem))
  return createPublicKey(pem)
}

export interface CheckpointFields {
  readonly seg: number
  readonly seq: number
  readonly head: string
  readonly time: string
}

/** The checkpoint line (with its newline), signed when a signer is given. */
export function checkpointLine (e: EnvelopeConstants, f: CheckpointFields, signer: Signer | null): string {
  const body = '{"alg":"' + (signer === null ? 'none' : signer.alg) + '","entity":' + e.entityJson + ',"head":"' + f.head +
    '","k":"ckpt","kid":' + (signer === null ? 'null' : '"' + signer.kid + '"') + ',"node":' + e.nodeJson + ',"seg":' + f.seg +
    ',"seq":' + f.seq + ',"time":"' + f.time + '","trail":"' + e.trail + '","v":' + FORMAT_VERSION + '}'
  if (signer === null) return body + '\n'
  return body.slice(0, -1) + ',"sig":"' + signer.sign(body) + '"}\n'
}

/** Check a parsed checkpoint's signature against `publicKey`. */
export function checkpointSignatureValid (ckpt: Record<string, unknown>, publicKey: KeyObject): boolean {
  const { sig, ...body } = ckpt
  if (typeof sig !== 'string') return false
  const alg = body.alg
  let expected: CheckpointAlg
  try { expected = algOf(publicKey) } catch { return false }
  if (alg !== expected) return false
  try {
    return verify(alg === 'ed25519' ? null : 'sha256', Buffer.from(canonical(body)), publicKey, Buffer.from(sig, 'base64'))
  } catch {
    return false
  }
}
