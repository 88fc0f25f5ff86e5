//! Every record type of the embedded Lexicon catalog written over real HTTP with
//! `validate: true`, on a real server over SQLite: a realistic record of each type (the samples
//! below, shaped as the official clients write them) is accepted with `validationStatus:
//! "valid"`; records that break their schema are refused with 400 `InvalidRequest`.
//!
//! The record types come from the catalog, not from a list here: a new record schema synced
//! into `api/lexicons/` without a sample fails `every_record_type_validates`.

#[path = "support/blob_client.rs"]
mod blob_client;
mod common;

use std::collections::BTreeMap;

use blob_client::{login, png, upload};
use common::TestPds;
use primal_pds_api::lexicons;
use primal_pds_engine::lexicon::{Def, RecordKeyType};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CREATED_AT: &str = "2026-11-29T09:00:00.000Z";
/// Another account, as the subject of follows, blocks and list items.
const BOB: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

/// A logged-in account and what its records refer to.
struct Writer {
    did: String,
    token: String,
}

/// Uploaded blobs, as the `blob` objects uploadBlob answered.
struct Blobs {
    png: Value,
    jpeg: Value,
    mp4: Value,
    vtt: Value,
}

/// One record to write: its collection, its record key when the client picks one, the record.
struct Sample {
    collection: &'static str,
    rkey: Option<String>,
    record: Value,
}

fn sample(collection: &'static str, record: Value) -> Sample {
    let mut record = record;
    record["$type"] = json!(collection);
    Sample { collection, rkey: None, record }
}

/// Every record type of the catalog with its key type, by NSID.
fn record_types() -> BTreeMap<String, RecordKeyType> {
    let catalog = lexicons::catalog();
    catalog
        .ids()
        .filter_map(|id| match catalog.get(id)?.defs.get("main")? {
            Def::Record(record) => Some((id.to_string(), record.key.clone())),
            _ => None,
        })
        .collect()
}

async fn call(pds: &TestPds, token: &str, nsid: &str, body: &Value) -> (StatusCode, Value) {
    let resp = pds.http.post(pds.xrpc(nsid)).bearer_auth(token).json(body).send().await.expect("send");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Write `sample` with `validate: true`: putRecord for a `literal:` key (under that key),
/// createRecord otherwise.
async fn write(pds: &TestPds, writer: &Writer, sample: &Sample) -> (StatusCode, Value) {
    let key = record_types().remove(sample.collection);
    let mut body =
        json!({ "repo": writer.did, "collection": sample.collection, "record": sample.record, "validate": true });
    if let Some(rkey) = &sample.rkey {
        body["rkey"] = json!(rkey);
    }
    match key {
        Some(RecordKeyType::Literal(literal)) => {
            body["rkey"] = json!(literal.as_str());
            call(pds, &writer.token, "com.atproto.repo.putRecord", &body).await
        }
        _ => call(pds, &writer.token, "com.atproto.repo.createRecord", &body).await,
    }
}

/// Write a sample that must be accepted as valid; its `{uri, cid}` (a strong reference).
async fn write_valid(pds: &TestPds, writer: &Writer, sample: &Sample) -> Value {
    let (status, out) = write(pds, writer, sample).await;
    assert_eq!(status, StatusCode::OK, "{}: {out}\n{}", sample.collection, sample.record);
    assert_eq!(out["validationStatus"], "valid", "{}: {out}", sample.collection);
    json!({ "uri": out["uri"], "cid": out["cid"] })
}

/// Write a sample that must be refused as an invalid request; the error message.
async fn write_refused(pds: &TestPds, writer: &Writer, sample: &Sample, why: &str) -> String {
    let (status, out) = write(pds, writer, sample).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {out}");
    assert_eq!(out["error"], "InvalidRequest", "{why}: {out}");
    out["message"].as_str().unwrap_or_else(|| panic!("{why}: no message in {out}")).to_owned()
}

async fn upload_blob(pds: &TestPds, token: &str, mime: &str, bytes: Vec<u8>) -> Value {
    let (status, out) = upload(pds, token, mime, bytes).await;
    assert_eq!(status, StatusCode::OK, "upload {mime}: {out}");
    assert_eq!(out["blob"]["mimeType"], mime, "{out}");
    out["blob"].clone()
}

async fn upload_blobs(pds: &TestPds, token: &str) -> Blobs {
    let mut jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
    jpeg.extend((0..4000u32).map(|i| (i % 251) as u8));
    // An ISO-BMFF `ftyp` box (brand isom), then a `free` box and filler.
    let mut mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x08free".to_vec();
    mp4.extend((0..20_000u32).map(|i| (i % 239) as u8));
    let vtt = b"WEBVTT\n\n00:00.000 --> 00:02.000\nWaves on the shore\n".to_vec();
    Blobs {
        png: upload_blob(pds, token, "image/png", png(21, 8000)).await,
        jpeg: upload_blob(pds, token, "image/jpeg", jpeg).await,
        mp4: upload_blob(pds, token, "video/mp4", mp4).await,
        vtt: upload_blob(pds, token, "text/vtt", vtt).await,
    }
}

/// The `byteSlice` of `needle` in `text` (UTF-8 byte offsets, as facets use).
fn byte_slice(text: &str, needle: &str) -> Value {
    let start = text.find(needle).expect("the needle is in the text");
    json!({ "byteStart": start, "byteEnd": start + needle.len() })
}

fn self_labels(values: &[&str]) -> Value {
    let values: Vec<Value> = values.iter().map(|v| json!({ "val": v })).collect();
    json!({ "$type": "com.atproto.label.defs#selfLabels", "values": values })
}

/// A post with rich text (a mention, a link and a tag), languages, tags and self-labels.
fn rich_post() -> Sample {
    let text = "Hej @bob.example.com 👋🏽 the notes are at https://example.com/notes #atproto";
    sample(
        "app.bsky.feed.post",
        json!({
            "text": text,
            "facets": [
                { "index": byte_slice(text, "@bob.example.com"),
                  "features": [{ "$type": "app.bsky.richtext.facet#mention", "did": BOB }] },
                { "index": byte_slice(text, "https://example.com/notes"),
                  "features": [{ "$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/notes" }] },
                { "index": byte_slice(text, "#atproto"),
                  "features": [{ "$type": "app.bsky.richtext.facet#tag", "tag": "atproto" }] }
            ],
            "langs": ["en", "sv"],
            "tags": ["meetup"],
            "labels": self_labels(&["graphic-media"]),
            "createdAt": CREATED_AT
        }),
    )
}

/// The realistic samples: every record type at least once, the post with every kind of embed.
/// `post` is a strong reference to an existing post, `list` the URI of a list, `feed` the URI
/// of a feed generator.
fn samples(blobs: &Blobs, post: &Value, list: &str, feed: &str) -> Vec<Sample> {
    let post_uri = post["uri"].as_str().expect("uri");
    let post_rkey = post_uri.rsplit('/').next().expect("rkey").to_owned();
    let aspect = json!({ "width": 1200, "height": 800 });
    let external = |thumb: &Value| {
        json!({ "$type": "app.bsky.embed.external", "external": {
            "uri": "https://example.com/notes", "title": "Meetup notes",
            "description": "What we talked about on Thursday", "thumb": thumb } })
    };
    let images = json!({ "$type": "app.bsky.embed.images",
        "images": [{ "image": blobs.png, "alt": "The harbour at dusk", "aspectRatio": aspect }] });
    let post_with = |text: &str, embed: Value| {
        sample("app.bsky.feed.post", json!({ "text": text, "embed": embed, "langs": ["en"], "createdAt": CREATED_AT }))
    };
    let mut postgate = sample(
        "app.bsky.feed.postgate",
        json!({ "post": post_uri, "detachedEmbeddingUris": [post_uri], "createdAt": CREATED_AT,
                "embeddingRules": [{ "$type": "app.bsky.feed.postgate#disableRule" }] }),
    );
    postgate.rkey = Some(post_rkey.clone());
    let mut threadgate = sample(
        "app.bsky.feed.threadgate",
        json!({ "post": post_uri, "createdAt": CREATED_AT, "hiddenReplies": [],
                "allow": [{ "$type": "app.bsky.feed.threadgate#mentionRule" },
                          { "$type": "app.bsky.feed.threadgate#followingRule" },
                          { "$type": "app.bsky.feed.threadgate#listRule", "list": list }] }),
    );
    threadgate.rkey = Some(post_rkey);
    let about = "Pictures of harbours, by @bob.example.com";
    let mut generator = sample(
        "app.bsky.feed.generator",
        json!({ "did": "did:web:feeds.example.com", "displayName": "Harbour pics",
                "description": about,
                "descriptionFacets": [{ "index": byte_slice(about, "@bob.example.com"),
                    "features": [{ "$type": "app.bsky.richtext.facet#mention", "did": BOB }] }],
                "avatar": blobs.png, "acceptsInteractions": true, "labels": self_labels(&["nudity"]),
                "contentMode": "app.bsky.feed.defs#contentModeUnspecified", "createdAt": CREATED_AT }),
    );
    generator.rkey = Some("harbour-pics".to_owned());
    let mut lexicon = sample(
        "com.atproto.lexicon.schema",
        json!({ "lexicon": 1, "id": "com.example.poll", "description": "A poll",
                "defs": { "main": { "type": "record", "key": "tid", "record": { "type": "object",
                    "required": ["question"], "properties": { "question": { "type": "string" } } } } } }),
    );
    lexicon.rkey = Some("com.example.poll".to_owned());
    vec![
        rich_post(),
        sample(
            "app.bsky.feed.post",
            json!({ "text": "Agreed!", "reply": { "root": post, "parent": post }, "createdAt": CREATED_AT }),
        ),
        post_with("The harbour", images.clone()),
        post_with(
            "Waves",
            json!({ "$type": "app.bsky.embed.video", "video": blobs.mp4, "alt": "Waves on the shore",
                    "aspectRatio": { "width": 1920, "height": 1080 }, "presentation": "default",
                    "captions": [{ "lang": "en", "file": blobs.vtt }] }),
        ),
        post_with(
            "A gallery",
            json!({ "$type": "app.bsky.embed.gallery", "items": [
                { "$type": "app.bsky.embed.gallery#image", "image": blobs.png, "alt": "One", "aspectRatio": aspect },
                { "$type": "app.bsky.embed.gallery#image", "image": blobs.jpeg, "alt": "Two", "aspectRatio": aspect }
            ] }),
        ),
        post_with("Read this", external(&blobs.png)),
        post_with("Quoting myself", json!({ "$type": "app.bsky.embed.record", "record": post })),
        post_with(
            "Quote with a picture",
            json!({ "$type": "app.bsky.embed.recordWithMedia",
                    "record": { "$type": "app.bsky.embed.record", "record": post }, "media": images }),
        ),
        sample("app.bsky.feed.like", json!({ "subject": post, "createdAt": CREATED_AT })),
        sample("app.bsky.feed.repost", json!({ "subject": post, "createdAt": CREATED_AT })),
        postgate,
        threadgate,
        generator,
        sample("app.bsky.graph.follow", json!({ "subject": BOB, "createdAt": CREATED_AT })),
        sample("app.bsky.graph.block", json!({ "subject": BOB, "createdAt": CREATED_AT })),
        sample(
            "app.bsky.graph.list",
            json!({ "purpose": "app.bsky.graph.defs#curatelist", "name": "Sailors",
                    "description": "People who sail", "avatar": blobs.jpeg, "createdAt": CREATED_AT }),
        ),
        sample("app.bsky.graph.listitem", json!({ "subject": BOB, "list": list, "createdAt": CREATED_AT })),
        sample("app.bsky.graph.listblock", json!({ "subject": list, "createdAt": CREATED_AT })),
        sample(
            "app.bsky.graph.starterpack",
            json!({ "name": "Sailing 101", "description": "Start here", "list": list,
                    "feeds": [{ "uri": feed }], "createdAt": CREATED_AT }),
        ),
        sample(
            "app.bsky.graph.verification",
            json!({ "subject": BOB, "handle": "bob.example.com", "displayName": "Bob", "createdAt": CREATED_AT }),
        ),
        sample(
            "app.bsky.actor.profile",
            json!({ "displayName": "Alice 🌊", "description": "Sails, mostly.", "pronouns": "she/her",
                    "website": "https://alice.example.com", "avatar": blobs.png, "banner": blobs.jpeg,
                    "labels": self_labels(&["!no-unauthenticated"]), "pinnedPost": post,
                    "createdAt": CREATED_AT }),
        ),
        sample(
            "app.bsky.actor.status",
            json!({ "status": "app.bsky.actor.status#live", "embed": external(&blobs.jpeg),
                    "durationMinutes": 90, "createdAt": CREATED_AT }),
        ),
        sample("app.bsky.actor.contentVisibilityDeclaration", json!({ "hideFromAlgorithmicRecommendations": true })),
        sample(
            "app.bsky.labeler.service",
            json!({ "policies": { "labelValues": ["spoiler", "!warn"], "labelValueDefinitions": [{
                        "identifier": "spoiler", "severity": "inform", "blurs": "content",
                        "defaultSetting": "warn", "adultOnly": false,
                        "locales": [{ "lang": "en", "name": "Spoiler", "description": "Reveals a plot" }] }] },
                    "labels": self_labels(&["!no-unauthenticated"]),
                    "reasonTypes": ["com.atproto.moderation.defs#reasonSpam"],
                    "subjectTypes": ["account", "record"], "subjectCollections": ["app.bsky.feed.post"],
                    "createdAt": CREATED_AT }),
        ),
        sample("app.bsky.notification.declaration", json!({ "allowSubscriptions": "followers" })),
        sample("chat.bsky.actor.declaration", json!({ "allowIncoming": "following", "allowGroupInvites": "none" })),
        sample(
            "com.germnetwork.declaration",
            json!({ "version": "1.2.0",
                    "currentKey": { "$bytes": "ARAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v" },
                    "keyPackage": { "$bytes": "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5v" },
                    "continuityProofs": [{ "$bytes": "cHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+Q" }],
                    "messageMe": { "messageMeUrl": "https://landing.germnetwork.com/message-me",
                                   "showButtonTo": "usersIFollow" } }),
        ),
        lexicon,
    ]
}

async fn writer(pds: &TestPds) -> Writer {
    let domain = pds.add_domain().await;
    let (account, token) = login(pds, &domain, "alice").await;
    Writer { did: account.did.to_string(), token }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_type_validates() {
    let pds = TestPds::sqlite().await;
    let writer = writer(&pds).await;
    let blobs = upload_blobs(&pds, &writer.token).await;
    // What the samples refer to: a post, a list, a feed generator, each written (and validated) first.
    let post = write_valid(&pds, &writer, &rich_post()).await;
    let list = sample(
        "app.bsky.graph.list",
        json!({ "purpose": "app.bsky.graph.defs#modlist", "name": "Spam", "createdAt": CREATED_AT }),
    );
    let list = write_valid(&pds, &writer, &list).await["uri"].as_str().expect("uri").to_owned();
    let mut feed = sample(
        "app.bsky.feed.generator",
        json!({ "did": "did:web:feeds.example.com", "displayName": "Sailing", "createdAt": CREATED_AT }),
    );
    feed.rkey = Some("sailing".to_owned());
    let feed = write_valid(&pds, &writer, &feed).await["uri"].as_str().expect("uri").to_owned();

    let samples = samples(&blobs, &post, &list, &feed);
    let types = record_types();
    assert!(types.len() >= 19, "the record types of app.bsky and chat.bsky are embedded: {types:?}");
    for collection in types.keys() {
        assert!(
            samples.iter().any(|s| s.collection == collection),
            "no sample of the record type {collection}: add a realistic one to this test"
        );
    }
    for sample in &samples {
        assert!(types.contains_key(sample.collection), "{} is not a record type of the catalog", sample.collection);
        write_valid(&pds, &writer, sample).await;
    }
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_breaking_their_schema_are_refused() {
    let pds = TestPds::sqlite().await;
    let writer = writer(&pds).await;
    let blobs = upload_blobs(&pds, &writer.token).await;
    let post = write_valid(&pds, &writer, &rich_post()).await;
    let with = |mut sample: Sample, change: &dyn Fn(&mut Value)| {
        change(&mut sample.record);
        sample
    };
    let repost = || sample("app.bsky.feed.repost", json!({ "subject": post, "createdAt": CREATED_AT }));
    // The write that failed for a new user of the Python SDK (issue 15): now valid.
    write_valid(&pds, &writer, &repost()).await;

    // (what is wrong, where the refusal says it is, the record)
    let refused: Vec<(&str, &str, Sample)> = vec![
        ("wrong type", "\"/subject\"", with(repost(), &|r| r["subject"] = json!(post["uri"]))),
        ("wrong type", "\"/createdAt\"", with(repost(), &|r| r["createdAt"] = json!(1_764_406_800))),
        (
            "missing required field",
            "missing required property \"subject\"",
            with(repost(), &|r| {
                if let Some(fields) = r.as_object_mut() {
                    fields.remove("subject");
                }
            }),
        ),
        ("missing field in a ref", "\"/subject\"", with(repost(), &|r| r["subject"] = json!({ "uri": post["uri"] }))),
        ("text over maxGraphemes", "\"/text\"", with(rich_post(), &|r| r["text"] = json!("é".repeat(301)))),
        (
            "displayName over maxGraphemes",
            "\"/displayName\"",
            sample("app.bsky.actor.profile", json!({ "displayName": "🌊".repeat(65) })),
        ),
        (
            "format: not a DID",
            "\"/subject\"",
            sample("app.bsky.graph.follow", json!({ "subject": "bob", "createdAt": CREATED_AT })),
        ),
        ("format: not a datetime", "\"/createdAt\"", with(repost(), &|r| r["createdAt"] = json!("yesterday"))),
        ("too many languages", "\"/langs\"", with(rich_post(), &|r| r["langs"] = json!(["en", "sv", "fi", "da"]))),
        (
            "integer under its minimum",
            "\"/durationMinutes\"",
            sample("app.bsky.actor.status", json!({ "status": "live", "durationMinutes": 0, "createdAt": CREATED_AT })),
        ),
        (
            "a listed union variant that does not match",
            "missing required property \"images\"",
            with(rich_post(), &|r| r["embed"] = json!({ "$type": "app.bsky.embed.images" })),
        ),
        (
            "a union variant without $type",
            "needs a $type",
            with(rich_post(), &|r| r["embed"] = json!({ "images": [] })),
        ),
        (
            "a blob of a type the field does not accept",
            "\"/avatar\"",
            sample("app.bsky.actor.profile", json!({ "avatar": blobs.mp4 })),
        ),
        (
            "a $type other than the collection",
            "Invalid $type",
            with(repost(), &|r| r["$type"] = json!("app.bsky.feed.like")),
        ),
    ];
    for (why, at, sample) in &refused {
        let message = write_refused(&pds, &writer, sample, why).await;
        assert!(message.contains(at), "{why}: the refusal {message:?} does not point at {at}");
    }
    // A literal:self record under another key.
    let profile = sample("app.bsky.actor.profile", json!({ "displayName": "Alice" }));
    let body = json!({ "repo": writer.did, "collection": "app.bsky.actor.profile", "rkey": "main",
                       "record": profile.record, "validate": true });
    let (status, out) = call(&pds, &writer.token, "com.atproto.repo.createRecord", &body).await;
    assert_eq!((status, &out["error"]), (StatusCode::BAD_REQUEST, &json!("InvalidRequest")), "{out}");

    // Open unions accept a variant they do not list (validated when the catalog knows it);
    // knownValues are suggestions, not a closed set.
    let poll = json!({ "$type": "com.example.poll", "question": "Tea or coffee?" });
    write_valid(&pds, &writer, &with(rich_post(), &|r| r["embed"] = poll.clone())).await;
    write_valid(
        &pds,
        &writer,
        &sample("app.bsky.notification.declaration", json!({ "allowSubscriptions": "friends" })),
    )
    .await;

    // A closed union (the writes of applyWrites) refuses a variant it does not list.
    let upsert = json!({ "repo": writer.did, "validate": true, "writes": [{
        "$type": "com.atproto.repo.applyWrites#upsert", "collection": "app.bsky.feed.repost",
        "value": repost().record }] });
    let (status, out) = call(&pds, &writer.token, "com.atproto.repo.applyWrites", &upsert).await;
    assert_eq!((status, &out["error"]), (StatusCode::BAD_REQUEST, &json!("InvalidRequest")), "{out}");

    // Nothing refused was written: the repo holds the first post, the repost, the open-union post,
    // the declaration.
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.repo.describeRepo"))
        .query(&[("repo", writer.did.as_str())])
        .send()
        .await
        .expect("describeRepo");
    let described: Value = resp.json().await.expect("json");
    assert_eq!(
        described["collections"],
        json!(["app.bsky.feed.post", "app.bsky.feed.repost", "app.bsky.notification.declaration"]),
        "{described}"
    );
    pds.finish().await;
}
