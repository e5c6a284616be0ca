package tlsconf

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// material is what Reload replaces as a unit: the keystore, the truststore
// and the digest of the files they came from.
type material struct {
	cert   *tls.Certificate // nil when no keystore is configured
	pool   *x509.CertPool   // nil when no truststore is configured
	digest [sha256.Size]byte
}

// files lists the store files in a fixed order, for digests.
func (s *Settings) files() []string {
	var fs []string
	if s.KeystoreLocation != "" {
		fs = append(fs, s.KeystoreLocation)
	}
	if s.TruststoreLocation != "" {
		fs = append(fs, s.TruststoreLocation)
	}
	return fs
}

// readFiles reads the store files and returns their contents and a digest
// over all of them, so that a caller can tell whether anything changed.
func (s *Settings) readFiles() (map[string][]byte, [sha256.Size]byte, error) {
	h := sha256.New()
	out := map[string][]byte{}
	for _, name := range []string{"ssl.keystore.location", "ssl.truststore.location"} {
		path := s.KeystoreLocation
		if name == "ssl.truststore.location" {
			path = s.TruststoreLocation
		}
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, [sha256.Size]byte{}, s.errorf(name, "%v", err)
		}
		out[name] = b
		// Length-prefix each file so that moving bytes between files
		// changes the digest.
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
	}
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return out, d, nil
}

// load reads and validates the keystore and truststore. needKey says the
// keystore is mandatory (servers); an error names the key to fix.
func (s *Settings) load(needKey bool) (*material, error) {
	if err := s.checkStoreTypes(); err != nil {
		return nil, err
	}
	contents, digest, err := s.readFiles()
	if err != nil {
		return nil, err
	}
	m := &material{digest: digest}

	inlineKey := strings.TrimSpace(s.KeystoreKey) != ""
	inlineChain := strings.TrimSpace(s.KeystoreCertificateChain) != ""
	switch {
	case s.KeystoreLocation != "" && (inlineKey || inlineChain):
		return nil, s.errorf("ssl.keystore.location", "set either it or %s and %s, not both",
			s.key("ssl.keystore.key"), s.key("ssl.keystore.certificate.chain"))
	case inlineKey && !inlineChain:
		return nil, s.errorf("ssl.keystore.certificate.chain", "must be set with %s", s.key("ssl.keystore.key"))
	case inlineChain && !inlineKey:
		return nil, s.errorf("ssl.keystore.key", "must be set with %s", s.key("ssl.keystore.certificate.chain"))
	case s.KeystoreLocation != "":
		b := contents["ssl.keystore.location"]
		m.cert, err = s.keyPair("ssl.keystore.location", b, b)
	case inlineKey:
		m.cert, err = s.keyPair("", []byte(s.KeystoreKey), []byte(s.KeystoreCertificateChain))
	case needKey:
		return nil, s.errorf("ssl.keystore.location", "no keystore: set it (a PEM file with the private key and certificate chain) or %s and %s",
			s.key("ssl.keystore.key"), s.key("ssl.keystore.certificate.chain"))
	}
	if err != nil {
		return nil, err
	}

	switch {
	case s.TruststoreLocation != "" && strings.TrimSpace(s.TruststoreCertificates) != "":
		return nil, s.errorf("ssl.truststore.location", "set either it or %s, not both", s.key("ssl.truststore.certificates"))
	case s.TruststoreLocation != "":
		m.pool, err = s.certPool("ssl.truststore.location", contents["ssl.truststore.location"])
	case strings.TrimSpace(s.TruststoreCertificates) != "":
		m.pool, err = s.certPool("ssl.truststore.certificates", []byte(s.TruststoreCertificates))
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// keyPair parses a private key from keyPEM and a chain from chainPEM (the same
// bytes for a KIP-651 keystore file). file names the key of the file, or ""
// for the inline pair, so that errors point at the right setting.
func (s *Settings) keyPair(file string, keyPEM, chainPEM []byte) (*tls.Certificate, error) {
	keyName, chainName := file, file
	if file == "" {
		keyName, chainName = "ssl.keystore.key", "ssl.keystore.certificate.chain"
	}
	var (
		keyBlock *pem.Block
		chain    [][]byte
	)
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			if keyBlock != nil {
				return nil, s.errorf(keyName, "more than one private key")
			}
			keyBlock = b
		} else if b.Type == "CERTIFICATE" && file != "" {
			chain = append(chain, b.Bytes)
		}
	}
	if file == "" {
		for rest := chainPEM; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				chain = append(chain, b.Bytes)
			}
		}
	}
	if keyBlock == nil {
		return nil, s.errorf(keyName, "no PEM private key found (want a PRIVATE KEY or ENCRYPTED PRIVATE KEY block)")
	}
	if len(chain) == 0 {
		return nil, s.errorf(chainName, "no PEM certificate found (want the certificate chain, leaf first)")
	}
	priv, err := s.privateKey(keyName, keyBlock)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, s.errorf(chainName, "first certificate: %v", err)
	}
	for i, der := range chain[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, s.errorf(chainName, "certificate %d of the chain: %v", i+2, err)
		}
	}
	pub, ok := priv.(interface{ Public() crypto.PublicKey })
	if !ok {
		return nil, s.errorf(keyName, "unsupported private key type %T", priv)
	}
	eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(leaf.PublicKey) {
		return nil, s.errorf(keyName, "the private key does not match the first certificate of the chain (subject %q)", leaf.Subject.String())
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: priv, Leaf: leaf}, nil
}

// privateKey decodes one PEM key block. Kafka's PEM keystores hold PKCS#8
// ("PRIVATE KEY" / "ENCRYPTED PRIVATE KEY"); the PKCS#1 and SEC 1 forms
// openssl writes by default are accepted too, being unambiguous.
func (s *Settings) privateKey(keyName string, b *pem.Block) (any, error) {
	pw := s.KeyPassword
	var (
		priv any
		err  error
	)
	// Legacy "Proc-Type: 4,ENCRYPTED" PEM (deprecated in Go for its weak
	// key derivation) is still what older openssl versions write.
	legacy := x509.IsEncryptedPEMBlock(b) //nolint:staticcheck
	switch {
	case b.Type == "ENCRYPTED PRIVATE KEY":
		if pw == "" {
			return nil, s.errorf("ssl.key.password", "required: the private key in %s is encrypted", s.key(keyName))
		}
		priv, err = DecryptPKCS8(b.Bytes, []byte(pw))
		if err != nil {
			return nil, s.errorf("ssl.key.password", "decrypting the private key in %s: %v", s.key(keyName), err)
		}
		return priv, nil
	case legacy:
		if pw == "" {
			return nil, s.errorf("ssl.key.password", "required: the private key in %s is encrypted", s.key(keyName))
		}
		// DecryptPEMBlock detects most wrong passwords by their padding; the
		// parse below catches the rest.
		der, derr := x509.DecryptPEMBlock(b, []byte(pw)) //nolint:staticcheck
		if derr != nil {
			if errors.Is(derr, x509.IncorrectPasswordError) {
				return nil, s.errorf("ssl.key.password", "decrypting the private key in %s: %v", s.key(keyName), ErrWrongPassword)
			}
			return nil, s.errorf("ssl.key.password", "decrypting the private key in %s: %v", s.key(keyName), derr)
		}
		priv, err = parseKeyDER(b.Type, der)
		if err != nil {
			return nil, s.errorf("ssl.key.password", "decrypting the private key in %s: %v", s.key(keyName), ErrWrongPassword)
		}
		return priv, nil
	}
	priv, err = parseKeyDER(b.Type, b.Bytes)
	if err != nil {
		return nil, s.errorf(keyName, "private key: %v", err)
	}
	return priv, nil
}

func parseKeyDER(typ string, der []byte) (any, error) {
	switch typ {
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(der)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", typ)
}

// certPool parses a PEM truststore; every CERTIFICATE block must parse, so
// that a damaged file is an error rather than a silently smaller trust set.
func (s *Settings) certPool(name string, b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, s.errorf(name, "certificate %d: %v", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, s.errorf(name, "no PEM certificate found")
	}
	return pool, nil
}
