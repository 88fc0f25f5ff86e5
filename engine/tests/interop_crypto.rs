//! Key and signature interop: `interop/crypto/` vectors (signature fixtures
//! with high-S and DER rejects, did:key encodings for both curves) plus
//! properties of generated keys.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD_INDIFFERENT as B64;
use primal_pds_engine::keys::{Algorithm, KeyError, Keypair, PublicKey};
use serde::Deserialize;

fn crypto_file(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/interop/crypto", name].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureFixture {
    comment: String,
    message_base64: String,
    algorithm: String,
    public_key_did: String,
    public_key_multibase: String,
    signature_base64: String,
    valid_signature: bool,
    tags: Vec<String>,
}

#[test]
fn signature_fixtures() {
    let fixtures: Vec<SignatureFixture> = serde_json::from_str(&crypto_file("signature-fixtures.json")).unwrap();
    assert_eq!(fixtures.len(), 6);
    let mut failures = Vec::new();
    for f in &fixtures {
        let mut fail = |what: String| failures.push(format!("{}: {what}", f.comment));
        let Some(algorithm) = Algorithm::from_jwt_alg(&f.algorithm) else {
            fail(format!("unknown algorithm {}", f.algorithm));
            continue;
        };
        let key = match PublicKey::from_did_key(&f.public_key_did) {
            Ok(key) => key,
            Err(e) => {
                fail(format!("did:key does not parse: {e}"));
                continue;
            }
        };
        if key.algorithm() != algorithm {
            fail(format!("did:key curve {:?}, fixture says {algorithm:?}", key.algorithm()));
        }
        if key.algorithm().jwt_alg() != f.algorithm {
            fail(format!("jwt_alg {} != {}", key.algorithm().jwt_alg(), f.algorithm));
        }
        match PublicKey::from_legacy_multibase(algorithm, &f.public_key_multibase) {
            Ok(legacy) if legacy == key => {}
            Ok(legacy) => fail(format!("legacy multibase gives {legacy:?}, did:key gives {key:?}")),
            Err(e) => fail(format!("legacy multibase does not parse: {e}")),
        }
        let (Ok(msg), Ok(sig)) = (B64.decode(&f.message_base64), B64.decode(&f.signature_base64)) else {
            fail("bad base64 in fixture".into());
            continue;
        };
        let result = key.verify(&msg, &sig);
        if result.is_ok() != f.valid_signature {
            fail(format!("verify gave {result:?}, expected valid={}", f.valid_signature));
        }
        // Rejections must be for the reason the fixture is about.
        if f.tags.iter().any(|t| t == "high-s") && !matches!(result, Err(KeyError::HighS { .. })) {
            fail(format!("high-s case gave {result:?}"));
        }
        if f.tags.iter().any(|t| t == "der-encoded") && !matches!(result, Err(KeyError::InvalidSignatureLength { .. }))
        {
            fail(format!("der case gave {result:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), fixtures.len(), failures.join("\n"));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DidKeyK256 {
    private_key_bytes_hex: String,
    public_did_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DidKeyP256 {
    private_key_bytes_base58: String,
    public_did_key: String,
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Private key → did:key must equal the fixture; did:key → public key must equal the derived key.
fn check_did_key(algorithm: Algorithm, private: &[u8], did_key: &str) -> Result<(), String> {
    let keypair = Keypair::from_private_bytes(algorithm, private).map_err(|e| format!("private key: {e}"))?;
    if keypair.to_private_bytes().as_slice() != private {
        return Err("private key bytes do not round-trip".into());
    }
    let derived = keypair.public_key();
    if derived.to_did_key() != did_key {
        return Err(format!("derived {}, expected {did_key}", derived.to_did_key()));
    }
    let parsed = PublicKey::from_did_key(did_key).map_err(|e| format!("parse {did_key}: {e}"))?;
    if parsed != derived || parsed.algorithm() != algorithm {
        return Err(format!("parsed {parsed:?} != derived {derived:?}"));
    }
    let multibase = did_key.strip_prefix("did:key:").ok_or("no did:key: prefix")?;
    if parsed.to_multibase() != multibase || PublicKey::from_multibase(multibase).as_ref() != Ok(&derived) {
        return Err("multibase form does not round-trip".into());
    }
    let compressed = parsed.to_compressed_bytes();
    if PublicKey::from_compressed(algorithm, &compressed).as_ref() != Ok(&derived) {
        return Err("compressed bytes do not round-trip".into());
    }
    Ok(())
}

#[test]
fn w3c_did_key_k256() {
    let fixtures: Vec<DidKeyK256> = serde_json::from_str(&crypto_file("w3c_didkey_K256.json")).unwrap();
    assert_eq!(fixtures.len(), 5);
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|f| {
            let private = hex_decode(&f.private_key_bytes_hex)?;
            check_did_key(Algorithm::K256, &private, &f.public_did_key)
                .err()
                .map(|e| format!("{}: {e}", f.public_did_key))
        })
        .collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(fixtures.iter().all(|f| hex_decode(&f.private_key_bytes_hex).is_some()), "bad hex in fixture");
}

#[test]
fn w3c_did_key_p256() {
    let fixtures: Vec<DidKeyP256> = serde_json::from_str(&crypto_file("w3c_didkey_P256.json")).unwrap();
    assert_eq!(fixtures.len(), 1);
    let mut failures = Vec::new();
    for f in &fixtures {
        let private = multibase::Base::Base58Btc.decode(&f.private_key_bytes_base58).expect("fixture is base58btc");
        if let Err(e) = check_did_key(Algorithm::P256, &private, &f.public_did_key) {
            failures.push(format!("{}: {e}", f.public_did_key));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn spec_examples_parse() {
    // specs/cryptography.md "Encoded Examples" and specs/did.md legacy vs. current encodings.
    let p = PublicKey::from_did_key("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo").unwrap();
    assert_eq!(p.algorithm(), Algorithm::P256);
    let k = PublicKey::from_did_key("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc").unwrap();
    assert_eq!(k.algorithm(), Algorithm::K256);
    let legacy = PublicKey::from_legacy_multibase(
        Algorithm::K256,
        "zQYEBzXeuTM9UR3rfvNag6L3RNAs5pQZyYPsomTsgQhsxLdEgCrPTLgFna8yqCnxPpNT7DBk6Ym3dgPKNu86vt9GR",
    )
    .unwrap();
    assert_eq!(legacy.to_multibase(), "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

const ALGORITHMS: [Algorithm; 2] = [Algorithm::K256, Algorithm::P256];

#[test]
fn generated_keys_sign_and_verify() {
    for algorithm in ALGORITHMS {
        let key = Keypair::generate(algorithm);
        assert_eq!(key.algorithm(), algorithm);
        let public = key.public_key();
        let sig = key.sign(b"hello world");
        assert_eq!(public.verify(b"hello world", &sig), Ok(()));
        assert_eq!(key.sign(b"hello world"), sig, "RFC 6979 signing is deterministic");
        assert!(matches!(public.verify(b"hello world!", &sig), Err(KeyError::InvalidSignature { .. })));
        let restored = Keypair::from_private_bytes(algorithm, &key.to_private_bytes()[..]).unwrap();
        assert_eq!(restored.public_key(), public);
        let reparsed = PublicKey::from_did_key(&public.to_did_key()).unwrap();
        assert_eq!(reparsed, public);
    }
}

#[test]
fn signatures_are_always_low_s() {
    for algorithm in ALGORITHMS {
        let key = Keypair::generate(algorithm);
        let public = key.public_key();
        for i in 0u32..64 {
            let msg = i.to_be_bytes();
            let sig = key.sign(&msg);
            assert_eq!(public.verify(&msg, &sig), Ok(()), "{algorithm} message {i}");
        }
    }
}

/// The mirror signature `(r, n - s)`: mathematically valid, but high-S when `s` is low.
fn negate_s(algorithm: Algorithm, sig: &[u8; 64]) -> [u8; 64] {
    match algorithm {
        Algorithm::K256 => {
            let sig = k256::ecdsa::Signature::from_slice(sig).unwrap();
            let (r, s) = sig.split_scalars();
            k256::ecdsa::Signature::from_scalars(r, -s).unwrap().to_bytes().into()
        }
        Algorithm::P256 => {
            let sig = p256::ecdsa::Signature::from_slice(sig).unwrap();
            let (r, s) = sig.split_scalars();
            p256::ecdsa::Signature::from_scalars(r, -s).unwrap().to_bytes().into()
        }
    }
}

#[test]
fn high_s_rejected_on_both_curves() {
    use k256::ecdsa::signature::Verifier as _;
    for algorithm in ALGORITHMS {
        let key = Keypair::generate(algorithm);
        let public = key.public_key();
        let msg = b"malleable";
        let high = negate_s(algorithm, &key.sign(msg));
        assert_eq!(public.verify(msg, &high), Err(KeyError::HighS { algorithm }), "{algorithm}");
        // The P-256 library alone accepts the mirror signature: the explicit check is what rejects it.
        if algorithm == Algorithm::P256 {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public.to_compressed_bytes()).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&high).unwrap();
            assert!(vk.verify(msg, &sig).is_ok(), "negated signature should be mathematically valid");
        }
    }
}

#[test]
fn signature_from_other_key_rejected() {
    for algorithm in ALGORITHMS {
        let signer = Keypair::generate(algorithm);
        let other = Keypair::generate(algorithm);
        let sig = signer.sign(b"msg");
        assert_eq!(other.public_key().verify(b"msg", &sig), Err(KeyError::InvalidSignature { algorithm }));
    }
    // Same bytes, other curve.
    let k = Keypair::generate(Algorithm::K256);
    let p = Keypair::generate(Algorithm::P256);
    assert!(p.public_key().verify(b"msg", &k.sign(b"msg")).is_err());
}

#[test]
fn malformed_signatures_rejected() {
    let key = Keypair::generate(Algorithm::P256);
    let public = key.public_key();
    let sig = key.sign(b"m");
    for len in [0, 63, 65, 70, 72] {
        let bytes = vec![1u8; len];
        assert_eq!(public.verify(b"m", &bytes), Err(KeyError::InvalidSignatureLength { len }));
    }
    let mut zero_r = sig;
    zero_r[..32].fill(0);
    assert!(matches!(public.verify(b"m", &zero_r), Err(KeyError::InvalidSignature { .. })));
    assert!(matches!(public.verify(b"m", &[0xff; 64]), Err(KeyError::InvalidSignature { .. })));
}

#[test]
fn bad_private_keys_rejected() {
    for algorithm in ALGORITHMS {
        for bytes in [&[0u8; 32][..], &[0xff; 32], &[1; 31], &[1; 33], &[]] {
            assert_eq!(
                Keypair::from_private_bytes(algorithm, bytes).err(),
                Some(KeyError::InvalidPrivateKey { algorithm, len: bytes.len() })
            );
        }
    }
}

#[test]
fn debug_hides_private_key() {
    let key = Keypair::generate(Algorithm::K256);
    let debug = format!("{key:?}");
    let secret: String = key.to_private_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!debug.contains(&secret), "{debug}");
    assert!(!debug.to_lowercase().contains(&secret[..16]));
    assert!(debug.contains(&key.public_key().to_did_key()), "{debug}");
}

#[test]
fn uncompressed_points_accepted() {
    for algorithm in ALGORITHMS {
        let public = Keypair::generate(algorithm).public_key();
        let uncompressed = match algorithm {
            Algorithm::K256 => k256::ecdsa::VerifyingKey::from_sec1_bytes(&public.to_compressed_bytes())
                .unwrap()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec(),
            Algorithm::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(&public.to_compressed_bytes())
                .unwrap()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec(),
        };
        assert_eq!(uncompressed.len(), 65);
        assert_eq!(PublicKey::from_compressed(algorithm, &uncompressed), Ok(public.clone()));
        let legacy = multibase::encode(multibase::Base::Base58Btc, &uncompressed);
        assert_eq!(PublicKey::from_legacy_multibase(algorithm, &legacy), Ok(public));
    }
}

#[test]
fn bad_key_strings_rejected() {
    let good = Keypair::generate(Algorithm::K256).public_key().to_did_key();
    let cases = [
        "",
        "did:key:",
        "did:key:z",
        "did:web:example.com",
        &good[8..],                                                 // missing did:key: prefix
        &good[..good.len() - 1],                                    // truncated point
        "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon0",                  // '0' is not base58
        "did:key:uQ3sh",                                            // not base58btc
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", // ed25519: unsupported
    ];
    for case in cases {
        assert!(PublicKey::from_did_key(case).is_err(), "{case:?} should not parse");
    }
    let long = format!("did:key:z{}", "Q".repeat(10_000));
    assert!(matches!(PublicKey::from_did_key(&long), Err(KeyError::InvalidMultibase { .. })));
    // Points must be on the curve and correctly tagged.
    assert!(PublicKey::from_compressed(Algorithm::P256, &[0x05; 33]).is_err());
    assert!(PublicKey::from_compressed(Algorithm::P256, &[0x04; 33]).is_err());
    assert!(PublicKey::from_compressed(Algorithm::K256, &[0x00]).is_err());
}

#[test]
fn hostile_strings_never_panic() {
    let inputs = ["did:key:z\u{0}", "did:key:zé", "did:key:z1111111111111111", "zzzzzz", "did:key:z\u{10ffff}"];
    for input in inputs {
        let _ = PublicKey::from_did_key(input);
        let _ = PublicKey::from_multibase(input);
        let _ = PublicKey::from_legacy_multibase(Algorithm::P256, input);
    }
}
