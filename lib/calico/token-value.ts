// What a token setting in a Calico file holds: the installer's placeholder, a
// literal token, nothing, or something else. Shared by the CNI config
// (k8s_auth_token) and the kubeconfig (users[].user.token). Pure.
import { InvalidTokenError, normalizeToken } from '../token/decode.ts'

/** install-cni replaces it with the token of its own pod (cni-plugin install.go, install-cni.sh before v3.16). */
export const SERVICEACCOUNT_TOKEN_PLACEHOLDER = '__SERVICEACCOUNT_TOKEN__'

export const TokenValueKind = {
  /** `__SERVICEACCOUNT_TOKEN__`: the installer fills in a fresh token at every start. */
  placeholder: 'placeholder',
  /** A JWT, raw or base64-wrapped. In a ConfigMap this is the trap: every restart writes it back. */
  literal: 'literal',
  /** Empty or whitespace: the plugin then relies on the kubeconfig. */
  empty: 'empty',
  /** Anything else (another placeholder, a truncated token): neither used as a token nor rewritten. */
  unrecognized: 'unrecognized',
} as const
export type TokenValueKind = (typeof TokenValueKind)[keyof typeof TokenValueKind]

export const TokenEncoding = {
  /** header.claims.signature, as the apiserver issues it. */
  jwt: 'jwt',
  /** base64 of the JWT, as a Secret's data.token shows it: pasted without decoding, it never authenticates. */
  base64: 'base64',
} as const
export type TokenEncoding = (typeof TokenEncoding)[keyof typeof TokenEncoding]

export type TokenValue =
  | { readonly kind: typeof TokenValueKind.literal; readonly token: string; readonly encoding: TokenEncoding }
  | { readonly kind: Exclude<TokenValueKind, typeof TokenValueKind.literal> }

/**
 * Classifies a configured token value. A literal is anything normalizeToken
 * accepts (three base64url segments, possibly base64-wrapped); `token` is
 * then its compact form, for decoding and signature checks. Nothing here
 * verifies the token.
 */
export function classifyTokenValue(value: string): TokenValue {
  const trimmed = value.trim()
  if (trimmed === '') return { kind: TokenValueKind.empty }
  if (trimmed === SERVICEACCOUNT_TOKEN_PLACEHOLDER) return { kind: TokenValueKind.placeholder }
  try {
    const token = normalizeToken(trimmed)
    return { kind: TokenValueKind.literal, token, encoding: trimmed.includes('.') ? TokenEncoding.jwt : TokenEncoding.base64 }
  } catch (err) {
    if (err instanceof InvalidTokenError) return { kind: TokenValueKind.unrecognized }
    throw err
  }
}
