//! The Lexicon `language` format (lexicon.md): a BCP 47 language tag (RFC 5646).
//!
//! ```text
//! langtag  = language ["-" script] ["-" region] *("-" variant) *("-" extension) ["-" privateuse]
//! language = 2*3ALPHA ["-" extlang]   ; extlang = 3ALPHA *2("-" 3ALPHA)
//!          / 5*8ALPHA                  ; registered language subtag
//! script   = 4ALPHA          region    = 2ALPHA / 3DIGIT
//! variant  = 5*8alphanum / (DIGIT 3alphanum)
//! extension = singleton 1*("-" (2*8alphanum))      ; singleton: any alphanum but x
//! privateuse = "x" 1*("-" (1*8alphanum))
//! ```
//!
//! A whole tag may also be private use (`x-…`) or one of RFC 5646's irregular grandfathered
//! tags (`i-default`, `sgn-BE-NL`, …).
//!
//! Tricky bits (where this is stricter than the bare ABNF, following the canonical vectors):
//! - The primary language subtag must be lower-case (`JA` is rejected), and the 4-letter form
//!   the ABNF reserves for future use is rejected (`jaja`).
//! - A repeated variant (`de-DE-1901-1901`) or extension singleton (`en-a-foo-a-bar`),
//!   compared case-insensitively, makes a tag invalid (RFC 5646 §2.2.9).
//! - Other subtags are case-insensitive (`X-fr-CH`, `pt-br` are fine) and kept as written.

use super::{SyntaxError, SyntaxKind, string_type};

/// RFC 5646 irregular grandfathered tags: whole tags that do not fit the `langtag` grammar.
/// (The regular grandfathered tags, like `zh-hakka`, already fit it.)
const IRREGULAR: [&str; 17] = [
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
];

/// A well-formed BCP 47 language tag such as `pt-BR`, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Language(String);

string_type!(Language);

impl Language {
    /// Parse a language tag (see the module documentation for the grammar and extra rules).
    pub fn parse(s: &str) -> Result<Language, SyntaxError> {
        let is_irregular = IRREGULAR.iter().any(|tag| tag.eq_ignore_ascii_case(s));
        if !is_irregular {
            check_tag(s).map_err(|reason| SyntaxError::new(SyntaxKind::Language, s, reason))?;
        }
        Ok(Language(s.to_owned()))
    }

    /// The first subtag: the primary language (`pt` for `pt-BR`), or `x` / `i` for private-use
    /// and grandfathered tags.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }
}

fn is_alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn is_alphanum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn check_tag(s: &str) -> Result<(), &'static str> {
    let subtags: Vec<&str> = s.split('-').collect();
    let mut rest = subtags.as_slice();
    let Some((&first, after)) = rest.split_first() else {
        return Err("empty");
    };
    if first.eq_ignore_ascii_case("x") {
        return check_private_use(after);
    }
    if !is_alpha(first) || first.is_empty() {
        return Err("primary language subtag must be letters");
    }
    match first.len() {
        2 | 3 | 5..=8 => {}
        4 => return Err("4-letter primary language subtags are reserved"),
        _ => return Err("primary language subtag must be 2-3 or 5-8 letters"),
    }
    if first.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("primary language subtag must be lower-case");
    }
    rest = after;
    if first.len() <= 3 {
        let extlangs = rest.iter().take(3).take_while(|t| t.len() == 3 && is_alpha(t)).count();
        rest = &rest[extlangs..];
    }
    if let Some((script, after)) = rest.split_first()
        && script.len() == 4
        && is_alpha(script)
    {
        rest = after;
    }
    if let Some((region, after)) = rest.split_first()
        && ((region.len() == 2 && is_alpha(region)) || (region.len() == 3 && is_digit(region)))
    {
        rest = after;
    }
    let mut variants: Vec<String> = Vec::new();
    while let Some((variant, after)) = rest.split_first() {
        let long = (5..=8).contains(&variant.len()) && is_alphanum(variant);
        let short = variant.len() == 4 && variant.as_bytes()[0].is_ascii_digit() && is_alphanum(variant);
        if !(long || short) {
            break;
        }
        variants.push(variant.to_ascii_lowercase());
        rest = after;
    }
    if has_duplicates(&mut variants) {
        return Err("a variant subtag is repeated");
    }
    let mut singletons: Vec<String> = Vec::new();
    while let Some((singleton, after)) = rest.split_first() {
        if singleton.len() != 1 || !is_alphanum(singleton) || singleton.eq_ignore_ascii_case("x") {
            break;
        }
        let body = after.iter().take_while(|t| (2..=8).contains(&t.len()) && is_alphanum(t)).count();
        if body == 0 {
            return Err("an extension needs at least one subtag of 2-8 characters");
        }
        singletons.push(singleton.to_ascii_lowercase());
        rest = &after[body..];
    }
    if has_duplicates(&mut singletons) {
        return Err("an extension singleton is repeated");
    }
    match rest.split_first() {
        None => Ok(()),
        Some((x, after)) if x.eq_ignore_ascii_case("x") => check_private_use(after),
        Some(_) => Err("unexpected subtag"),
    }
}

/// The subtags after an `x`: one or more of 1 to 8 letters and digits.
fn check_private_use(subtags: &[&str]) -> Result<(), &'static str> {
    if subtags.is_empty() {
        return Err("private use needs at least one subtag");
    }
    if subtags.iter().all(|t| (1..=8).contains(&t.len()) && is_alphanum(t)) {
        Ok(())
    } else {
        Err("private-use subtags must be 1-8 letters or digits")
    }
}

fn has_duplicates(items: &mut [String]) -> bool {
    items.sort_unstable();
    items.windows(2).any(|pair| pair[0] == pair[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts() {
        for s in
            ["ja", "pt-BR", "zh-min-nan", "zh-yue-HK", "sr-Latn-RS", "es-419", "de-CH-1901", "x-whatever", "i-klingon"]
        {
            assert!(Language::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn rejects() {
        for s in ["", "-", "ja-", "JA", "jaja", "de-419-DE", "en-a", "en-a-x", "x", "x-", "en-x-123456789", "i-bogus"] {
            assert!(Language::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn primary() {
        assert_eq!(Language::parse("pt-BR").expect("valid").primary(), "pt");
    }
}
