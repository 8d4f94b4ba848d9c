use super::*;

fn lun_url(text: &str) -> IscsiUrl {
    IscsiUrl::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

#[test]
fn parses_the_full_form() {
    let url = lun_url("iscsi://alice%s3cret@10.0.0.1:3261/iqn.2024-01.dev:disk/2");
    assert_eq!(url.portal.host, "10.0.0.1");
    assert_eq!(url.portal.port, 3261);
    assert_eq!(url.portal.user.as_deref(), Some("alice"));
    assert_eq!(url.portal.password.as_deref(), Some("s3cret"));
    assert_eq!(url.target, "iqn.2024-01.dev:disk");
    assert_eq!(url.lun, 2);
    assert_eq!(
        url.to_string(),
        "iscsi://alice%***@10.0.0.1:3261/iqn.2024-01.dev:disk/2"
    );
    let chap = url.portal.chap().map(|c| (c.user, c.secret));
    assert_eq!(chap, Some(("alice".to_string(), b"s3cret".to_vec())));
}

#[test]
fn default_port_and_ipv6() {
    let url = lun_url("iscsi://[::1]/iqn.x:y/0");
    assert_eq!(
        (url.portal.host.as_str(), url.portal.port),
        ("::1", DEFAULT_PORT)
    );
    assert_eq!(url.portal.address(), "[::1]:3260");
    let url = lun_url("iscsi://[fe80::1:2]:3262/iqn.x:y/0");
    assert_eq!(url.portal.address(), "[fe80::1:2]:3262");
    let portal = PortalUrl::parse("iscsi://host").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(portal.address(), "host:3260");
}

#[test]
fn ipv6_without_brackets_gets_a_clear_error() {
    assert_eq!(
        IscsiUrl::parse("iscsi://::1/iqn.x/0"),
        Err(UrlError::Ipv6WithoutBrackets("::1".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://fe80::1:3260/iqn.x/0"),
        Err(UrlError::Ipv6WithoutBrackets("fe80::1:3260".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://[nonsense]/iqn.x/0"),
        Err(UrlError::BadIpv6("nonsense".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://[::1/iqn.x/0"),
        Err(UrlError::BadIpv6("::1".into()))
    );
    let message = UrlError::Ipv6WithoutBrackets("::1".into()).to_string();
    assert!(message.contains("iscsi://[::1]:3260"), "{message}");
}

#[test]
fn passwords_are_percent_decoded() {
    let url = lun_url("iscsi://alice%pa%2Fss%25w%40rd@h/iqn.x/0");
    assert_eq!(url.portal.password.as_deref(), Some("pa/ss%w@rd"));
    // A literal '@' in the password needs no encoding: the last '@' ends the user info.
    let url = lun_url("iscsi://alice%a@b@h/iqn.x/0");
    assert_eq!(url.portal.password.as_deref(), Some("a@b"));
    assert_eq!(url.portal.host, "h");
    assert_eq!(
        IscsiUrl::parse("iscsi://alice%50%zz@h/iqn.x/0"),
        Err(UrlError::BadPercentEncoding {
            part: "password",
            text: "50%zz".into()
        })
    );
    assert!(matches!(
        IscsiUrl::parse("iscsi://alice%a%2@h/iqn.x/0"),
        Err(UrlError::BadPercentEncoding { .. })
    ));
    let url = lun_url("iscsi://h/iqn.2024-01.dev%3Adisk/0");
    assert_eq!(url.target, "iqn.2024-01.dev:disk");
}

#[test]
fn arguments_set_digests_and_mutual_chap() {
    let url = lun_url(
        "iscsi://alice%pw@h/iqn.x/1?header_digest=crc32c&data_digest=none-crc32c\
         &target_user=tgt&target_password=t%2Fpw",
    );
    assert_eq!(url.portal.header_digest, Some(DigestChoice::Crc32c));
    assert_eq!(url.portal.data_digest, Some(DigestChoice::NoneOrCrc32c));
    let target = url.portal.target_chap().map(|c| (c.user, c.secret));
    assert_eq!(target, Some(("tgt".to_string(), b"t/pw".to_vec())));
    assert!(DigestChoice::Crc32c.requires_crc32c());
    assert!(DigestChoice::Crc32cOrNone.offers_crc32c());
    assert!(!DigestChoice::NoneOrCrc32c.offers_crc32c());
    let debug = format!("{url:?}");
    assert!(
        debug.ends_with(
            "?header_digest=crc32c&data_digest=none-crc32c&target_user=tgt&target_password=***"
        ),
        "{debug}"
    );
    assert!(!debug.contains("pw"), "{debug}");
    // A portal-only URL takes arguments too.
    let portal = PortalUrl::parse("iscsi://h:3300?header_digest=CRC32C-None");
    let portal = portal.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(portal.header_digest, Some(DigestChoice::Crc32cOrNone));
}

#[test]
fn bad_arguments_are_named() {
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/0?header_digest=md5"),
        Err(UrlError::BadDigest {
            key: "header_digest",
            value: "md5".into()
        })
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/0?iser"),
        Err(UrlError::ArgumentWithoutValue("iser".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/0?colour=red"),
        Err(UrlError::UnknownArgument("colour".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/0?data_digest=none&data_digest=crc32c"),
        Err(UrlError::DuplicateArgument("data_digest".into()))
    );
}

#[test]
fn credentials_must_pair_up() {
    assert_eq!(
        IscsiUrl::parse("iscsi://alice@h/iqn.x/0"),
        Err(UrlError::MissingPassword {
            user: "alice".into()
        })
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://alice%@h/iqn.x/0"),
        Err(UrlError::MissingPassword {
            user: "alice".into()
        })
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/0?target_user=t&target_password=p"),
        Err(UrlError::MutualWithoutInitiator)
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://a%b@h/iqn.x/0?target_user=t"),
        Err(UrlError::MissingTargetPassword { user: "t".into() })
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://a%b@h/iqn.x/0?target_password=p"),
        Err(UrlError::MissingTargetUser)
    );
}

#[test]
fn environment_fills_what_the_url_leaves_out() {
    let env = env_of(&[
        (ENV_CHAP_USERNAME, "envuser"),
        (ENV_CHAP_PASSWORD, "env/pw"),
        (ENV_CHAP_TARGET_USERNAME, "envtarget"),
        (ENV_CHAP_TARGET_PASSWORD, "envtpw"),
    ]);
    let url = IscsiUrl::parse_with_env("iscsi://h/iqn.x/0", &env);
    let url = url.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.portal.user.as_deref(), Some("envuser"));
    assert_eq!(url.portal.password.as_deref(), Some("env/pw"));
    assert_eq!(url.portal.target_user.as_deref(), Some("envtarget"));
    assert_eq!(url.portal.target_password.as_deref(), Some("envtpw"));
    // The URL wins field by field: the user from the URL, the password from the environment.
    let url = IscsiUrl::parse_with_env("iscsi://alice@h/iqn.x/0?target_user=t", &env);
    let url = url.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.portal.user.as_deref(), Some("alice"));
    assert_eq!(url.portal.password.as_deref(), Some("env/pw"));
    assert_eq!(url.portal.target_user.as_deref(), Some("t"));
    assert_eq!(url.portal.target_password.as_deref(), Some("envtpw"));
    let only_password = env_of(&[(ENV_CHAP_PASSWORD, "pw")]);
    assert_eq!(
        IscsiUrl::parse_with_env("iscsi://h/iqn.x/0", &only_password),
        Err(UrlError::MissingUser)
    );
    let empty = env_of(&[(ENV_CHAP_USERNAME, ""), (ENV_CHAP_PASSWORD, "")]);
    let url = IscsiUrl::parse_with_env("iscsi://h/iqn.x/0", &empty);
    assert_eq!(url.map(|url| url.portal.chap()), Ok(None));
}

#[test]
fn urls_without_a_lun_are_representable() {
    let parsed = ParsedUrl::parse("iscsi://h:3300/iqn.x:disk");
    let Ok(ParsedUrl::Target(target)) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(target.target, "iqn.x:disk");
    assert_eq!(target.portal.port, 3300);
    assert_eq!(target.to_string(), "iscsi://h:3300/iqn.x:disk");
    assert_eq!(
        TargetUrl::parse("iscsi://h/iqn.x/").map(|t| t.target),
        Ok("iqn.x".to_string())
    );
    assert!(matches!(
        ParsedUrl::parse("iscsi://h/"),
        Ok(ParsedUrl::Portal(_))
    ));
    assert!(matches!(
        ParsedUrl::parse("iscsi://h/iqn.x/3"),
        Ok(ParsedUrl::Lun(IscsiUrl { lun: 3, .. }))
    ));
    assert_eq!(TargetUrl::parse("iscsi://h"), Err(UrlError::MissingTarget));
    assert_eq!(
        TargetUrl::parse("iscsi://h/iqn.x/3"),
        Err(UrlError::TrailingPath {
            after: "target name",
            text: "3".into()
        })
    );
    assert_eq!(
        lun_url("iscsi://h/iqn.x/3").target_url(),
        TargetUrl::parse("iscsi://h/iqn.x").unwrap_or_else(|e| panic!("{e}"))
    );
}

#[test]
fn errors_name_the_faulty_part() {
    assert!(matches!(
        IscsiUrl::parse("http://h/t/0"),
        Err(UrlError::Scheme(_))
    ));
    assert_eq!(IscsiUrl::parse("iscsi:///t/0"), Err(UrlError::MissingHost));
    assert_eq!(
        IscsiUrl::parse("iscsi://h:99999/t/0"),
        Err(UrlError::BadPort("99999".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h:/t/0"),
        Err(UrlError::BadPort("".into()))
    );
    assert_eq!(IscsiUrl::parse("iscsi://h"), Err(UrlError::MissingTarget));
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x"),
        Err(UrlError::MissingLun)
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/"),
        Err(UrlError::MissingLun)
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/abc"),
        Err(UrlError::BadLun("abc".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/+1"),
        Err(UrlError::BadLun("+1".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/16384"),
        Err(UrlError::BadLun("16384".into()))
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h/iqn.x/1/extra"),
        Err(UrlError::TrailingPath {
            after: "LUN",
            text: "extra".into()
        })
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://h//0"),
        Err(UrlError::MissingTarget)
    );
    assert_eq!(
        IscsiUrl::parse("iscsi://%pw@h/t/0"),
        Err(UrlError::EmptyUser)
    );
    assert_eq!(
        PortalUrl::parse("iscsi://h/iqn.x"),
        Err(UrlError::TrailingPath {
            after: "portal",
            text: "iqn.x".into()
        })
    );
}

#[test]
fn target_names_over_223_bytes_are_refused() {
    let name = format!("iqn.2024-01.dev:{}", "n".repeat(220));
    let error = IscsiUrl::parse(&format!("iscsi://h/{name}/0"));
    assert!(
        matches!(
            error,
            Err(UrlError::Name(NameError::TooLong { length: 236, .. }))
        ),
        "{error:?}"
    );
}

#[test]
fn lun_field_encoding() {
    assert_eq!(encode_lun(0), 0);
    assert_eq!(encode_lun(1), 0x0001_0000_0000_0000);
    assert_eq!(encode_lun(300), 0x412c_0000_0000_0000);
}
