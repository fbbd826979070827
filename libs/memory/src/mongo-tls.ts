import { FlotillaConfig } from '@flotilla/config';

/**
 * MONGO_URL with the TLS settings of the configuration added as connection-string options
 * (`tls`, `tlsCAFile`, `tlsCertificateKeyFile`, `tlsAllowInvalidHostnames`), which the MongoDB
 * driver reads the same way whichever store opens the connection. Options already in MONGO_URL are
 * kept; a setting of the configuration replaces the same option in the URL. Works for multi-host
 * and `mongodb+srv://` URLs (no URL parsing of the host part).
 */
export function mongoUrlFrom(config: Pick<FlotillaConfig, 'MONGO_URL' | 'MONGO_TLS' | 'MONGO_TLS_CA_FILE' | 'MONGO_TLS_CERT_KEY_FILE' | 'MONGO_TLS_ALLOW_INVALID_HOSTNAMES'>): string {
  if (!config.MONGO_TLS) return config.MONGO_URL;
  const add: [string, string][] = [['tls', 'true']];
  if (config.MONGO_TLS_CA_FILE) add.push(['tlsCAFile', config.MONGO_TLS_CA_FILE]);
  if (config.MONGO_TLS_CERT_KEY_FILE) add.push(['tlsCertificateKeyFile', config.MONGO_TLS_CERT_KEY_FILE]);
  if (config.MONGO_TLS_ALLOW_INVALID_HOSTNAMES) add.push(['tlsAllowInvalidHostnames', 'true']);
  const hashAt = config.MONGO_URL.indexOf('#');
  const url = hashAt >= 0 ? config.MONGO_URL.slice(0, hashAt) : config.MONGO_URL;
  const q = url.indexOf('?');
  const base = q >= 0 ? url.slice(0, q) : url;
  const params = new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
  for (const name of [...params.keys()]) {
    // `ssl` is the driver's older alias of `tls`; drop it so the two cannot disagree.
    if (name.toLowerCase() === 'ssl' || add.some(([n]) => n.toLowerCase() === name.toLowerCase())) params.delete(name);
  }
  for (const [n, v] of add) params.append(n, v);
  // A URL without a path needs one before the options: mongodb://host/?tls=true
  const needsSlash = !/^mongodb(\+srv)?:\/\/[^/]+\//.test(base);
  return `${base}${needsSlash ? '/' : ''}?${params.toString()}`;
}
