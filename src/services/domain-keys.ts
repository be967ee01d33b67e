/**
 * DKIM key pairs for sending domains and how their private halves are kept: generated here
 * (RSA-2048 by default, Ed25519 on request), sealed with AES-256-GCM under a key derived with HKDF
 * from the master key (`--master-key`), and opened only by the signers. The sealed form is bound
 * to its key id, domain and selector (GCM's associated data), so a ciphertext copied onto another
 * key's row does not open. A private key is in clear only between its generation and its sealing,
 * and in a signer's memory.
 */
import { createCipheriv, createDecipheriv, createHash, createPublicKey, generateKeyPair, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { HeraldError } from '../core/errors.js';
import type { DomainKeyAlgorithm, SealedKey } from '../store/store.js';

/** The HKDF info labels: one derived key per purpose, so the master key is never used directly. */
const SEAL_PURPOSE = 'herald/dkim-private-key/v1';
const FINGERPRINT_PURPOSE = 'herald/master-key-id/v1';
const IV_BYTES = 12;

/** A master key prepared for sealing: the derived AES key and the fingerprint stored beside each ciphertext. */
export interface KeySealer {
  readonly masterKeyId: string;
  seal(privatePem: string, binding: KeyBinding): SealedKey;
  /** The PKCS#8 PEM; throws `HeraldError('invalid_config')` when sealed with another master key or altered. */
  open(sealed: SealedKey, binding: KeyBinding): string;
}

/** What a sealed key is bound to: the row it belongs to. */
export interface KeyBinding {
  keyId: string;
  domain: string;
  selector: string;
}

export interface GeneratedKey {
  algorithm: DomainKeyAlgorithm;
  /** PKCS#8 PEM: seal it at once. */
  privatePem: string;
  /** Base64 for the DKIM record's p= tag. */
  publicKey: string;
}

function derive(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), purpose, 32));
}

function associatedData(binding: KeyBinding): Buffer {
  return Buffer.from(`${binding.keyId}\n${binding.domain}\n${binding.selector}`, 'utf8');
}

/**
 * @example
 * const sealer = createKeySealer(masterKey);
 * const sealed = sealer.seal(pem, { keyId, domain: 'example.com', selector: 's1' });
 */
export function createKeySealer(masterKey: Buffer): KeySealer {
  if (masterKey.length < 32) throw new HeraldError('invalid_config', { field: 'masterKey', reason: 'must be at least 32 bytes' });
  const aesKey = derive(masterKey, SEAL_PURPOSE);
  const masterKeyId = createHash('sha256').update(derive(masterKey, FINGERPRINT_PURPOSE)).digest('hex').slice(0, 16);
  return Object.freeze({
    masterKeyId,
    seal(privatePem: string, binding: KeyBinding): SealedKey {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
      cipher.setAAD(associatedData(binding));
      const ciphertext = Buffer.concat([cipher.update(privatePem, 'utf8'), cipher.final()]);
      return { ciphertext: ciphertext.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), masterKeyId };
    },
    open(sealed: SealedKey, binding: KeyBinding): string {
      if (sealed.masterKeyId !== masterKeyId) {
        throw new HeraldError('invalid_config', {
          field: 'masterKey',
          reason: `the DKIM key of ${binding.domain} (selector ${binding.selector}) was sealed with another master key (${sealed.masterKeyId}; this process has ${masterKeyId})`,
        });
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(sealed.iv, 'base64'));
        decipher.setAAD(associatedData(binding));
        decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new HeraldError(
          'invalid_config',
          { field: 'masterKey', reason: `the DKIM key of ${binding.domain} (selector ${binding.selector}) does not open: altered or misplaced` },
          { cause: error },
        );
      }
    },
  });
}

/** Base64 of the public key as DKIM publishes it: SPKI DER for RSA, the raw 32 bytes for Ed25519 (RFC 8463). */
export function publicKeyValue(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return publicKey.asymmetricKeyType === 'ed25519' ? der.subarray(der.length - 32).toString('base64') : der.toString('base64');
}

const generatePair = promisify(generateKeyPair);

/**
 * A new key pair, made off the event loop (RSA generation takes a while). RSA keys are 2048 bits:
 * RFC 8301 asks for at least 1024, and 2048 is what every DNS host takes in one TXT record.
 */
export async function generateDomainKey(algorithm: DomainKeyAlgorithm): Promise<GeneratedKey> {
  const pair = algorithm === 'rsa' ? await generatePair('rsa', { modulusLength: 2048 }) : await generatePair('ed25519');
  return {
    algorithm,
    privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKeyValue(pair.publicKey),
  };
}

/** The public key of a private PEM, as {@link publicKeyValue} gives it (tests, consistency checks). */
export function publicKeyOfPem(privatePem: string): string {
  return publicKeyValue(createPublicKey(privatePem));
}

/** The TXT value to publish at `selector._domainkey.domain`. */
export function dkimRecordValue(algorithm: DomainKeyAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}
