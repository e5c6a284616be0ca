// Package tlstest writes throwaway PKI for tests: a CA, a server and a
// client certificate signed by it, in the PEM layouts samsa's TLS settings
// read (KIP-651 keystores: private key and chain in one file). Keys are
// ECDSA P-256 for speed; certificates are valid from a day ago to 30 days
// ahead. Nothing here is fit for production.
package tlstest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files are the paths Write creates.
type Files struct {
	CA         string // ca.pem: the CA certificate (a PEM truststore)
	CAKey      string // ca-key.pem: the CA's key, for Issue and Reissue
	Server     string // server.pem: server key + chain (KIP-651 form)
	ServerKey  string // server-key.pem
	ServerCert string // server-cert.pem: server certificate + CA
	Client     string // client.pem: client key + chain
	ClientKey  string // client-key.pem
	ClientCert string // client-cert.pem
}

// Pair are the files Issue writes for one certificate.
type Pair struct {
	Keystore string // <name>.pem: key then chain
	Key      string // <name>-key.pem: PKCS#8 key
	Cert     string // <name>-cert.pem: certificate then CA
}

// Write creates a CA in dir and issues a server certificate for hosts (IP
// addresses and DNS names, e.g. 127.0.0.1 and localhost) with CN=server,
// and a client certificate with CN=clientCN.
func Write(dir string, hosts []string, clientCN string) (Files, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "samsa test CA", Organization: []string{"samsa"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Files{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return Files{}, err
	}
	f := Files{CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem")}
	if err := writeFile(f.CA, pemOf("CERTIFICATE", der)); err != nil {
		return Files{}, err
	}
	if err := writeFile(f.CAKey, pemOf("PRIVATE KEY", keyDER)); err != nil {
		return Files{}, err
	}
	srv, err := Issue(dir, "server", pkix.Name{CommonName: "server", Organization: []string{"samsa"}}, hosts)
	if err != nil {
		return Files{}, err
	}
	cli, err := Issue(dir, "client", pkix.Name{CommonName: clientCN}, nil)
	if err != nil {
		return Files{}, err
	}
	f.Server, f.ServerKey, f.ServerCert = srv.Keystore, srv.Key, srv.Cert
	f.Client, f.ClientKey, f.ClientCert = cli.Keystore, cli.Key, cli.Cert
	return f, nil
}

// Issue writes <name>.pem, <name>-key.pem and <name>-cert.pem in dir for a
// new key and a certificate for subject signed by the CA Write left there,
// usable for both server and client authentication. Existing files are
// replaced atomically (rename), as a careful operator would.
func Issue(dir, name string, subject pkix.Name, hosts []string) (Pair, error) {
	caCert, caKey, err := loadCA(dir)
	if err != nil {
		return Pair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return Pair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	keyPEM := pemOf("PRIVATE KEY", keyDER)
	chainPEM := append(pemOf("CERTIFICATE", der), pemOf("CERTIFICATE", caCert.Raw)...)
	p := Pair{
		Keystore: filepath.Join(dir, name+".pem"),
		Key:      filepath.Join(dir, name+"-key.pem"),
		Cert:     filepath.Join(dir, name+"-cert.pem"),
	}
	if err := writeFile(p.Keystore, append(append([]byte{}, keyPEM...), chainPEM...)); err != nil {
		return Pair{}, err
	}
	if err := writeFile(p.Key, keyPEM); err != nil {
		return Pair{}, err
	}
	if err := writeFile(p.Cert, chainPEM); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// Reissue replaces the server files Write created with a new key and
// certificate (a new serial number) from the same CA.
func Reissue(dir string, hosts []string) (Files, error) {
	srv, err := Issue(dir, "server", pkix.Name{CommonName: "server", Organization: []string{"samsa"}}, hosts)
	if err != nil {
		return Files{}, err
	}
	return Files{
		CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		Server: srv.Keystore, ServerKey: srv.Key, ServerCert: srv.Cert,
		Client:     filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
		ClientCert: filepath.Join(dir, "client-cert.pem"),
	}, nil
}

// PBES2 chooses the encryption EncryptPKCS8 uses.
type PBES2 struct {
	SHA256     bool // PBKDF2 PRF hmacWithSHA256 instead of hmacWithSHA1
	AES256     bool // AES-256-CBC instead of AES-128-CBC
	Iterations int  // default 2048, as openssl
}

// EncryptPKCS8 returns key as an "ENCRYPTED PRIVATE KEY" PEM block (PBES2,
// PBKDF2, AES-CBC), as openssl pkcs8 -topk8 -v2 writes it.
func EncryptPKCS8(key crypto.PrivateKey, password string, o PBES2) ([]byte, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if o.Iterations == 0 {
		o.Iterations = 2048
	}
	prf, prfOID := sha1.New, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	if o.SHA256 {
		prf, prfOID = func() hash.Hash { return sha256.New() }, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	}
	keyLen, encOID := 16, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	if o.AES256 {
		keyLen, encOID = 32, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	}
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	dk, err := pbkdf2.Key(prf, password, salt, o.Iterations, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(dk)
	if err != nil {
		return nil, err
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(plain, make([]byte, n)...)
	for i := len(plain); i < len(padded); i++ {
		padded[i] = byte(n)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)

	type algID struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	raw := func(v any) (asn1.RawValue, error) {
		b, err := asn1.Marshal(v)
		return asn1.RawValue{FullBytes: b}, err
	}
	kdfParams, err := raw(struct {
		Salt       []byte
		Iterations int
		PRF        algID
	}{salt, o.Iterations, algID{Algorithm: prfOID, Parameters: asn1.NullRawValue}})
	if err != nil {
		return nil, err
	}
	ivRaw, err := raw(iv)
	if err != nil {
		return nil, err
	}
	pbes2Params, err := raw(struct{ KDF, Enc algID }{
		algID{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}, kdfParams},
		algID{encOID, ivRaw},
	})
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(struct {
		Alg  algID
		Data []byte
	}{algID{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, pbes2Params}, padded})
	if err != nil {
		return nil, err
	}
	return pemOf("ENCRYPTED PRIVATE KEY", der), nil
}

// WriteEncryptedKeystore writes to dst the keystore src (key then chain)
// with its key encrypted under password by EncryptPKCS8.
func WriteEncryptedKeystore(dst, src, password string, o PBES2) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var out, chain []byte
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return err
			}
			if out, err = EncryptPKCS8(key, password, o); err != nil {
				return err
			}
		case "CERTIFICATE":
			chain = append(chain, pem.EncodeToMemory(blk)...)
		}
	}
	if out == nil {
		return errors.New("tlstest: no PRIVATE KEY in " + src)
	}
	return writeFile(dst, append(out, chain...))
}

func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("tlstest: bad CA files in %s", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("tlstest: CA key is %T", key)
	}
	return cert, signer, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFile replaces path atomically, so that a watcher never reads half a
// file.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
