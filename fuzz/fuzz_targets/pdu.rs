//! Fuzz target `pdu`: arbitrary bytes through the iSCSI PDU decoder (with and without
//! digests, under a small data-segment limit), the text-key parser and the login state
//! machine. Besides "never panics" it checks that every decoded PDU re-encodes to bytes
//! that decode to the same PDU.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use unjam_iscsi::login::{Authentication, Login, LoginConfig, SessionType};
use unjam_iscsi::params::OperationalProposal;
use unjam_iscsi::pdu::{encode_pdu, Digests, Pdu, PduDecoder};
use unjam_iscsi::text::TextPairs;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let digests = Digests {
        header: selector & 1 != 0,
        data: selector & 2 != 0,
    };
    let _ = TextPairs::parse(bytes);
    let decoder = PduDecoder::new(4096, digests);
    let mut buffer = BytesMut::from(bytes);
    let mut login = Login::new(LoginConfig {
        initiator_name: "iqn.2024-11.dev.unjam:fuzz".into(),
        session_type: SessionType::Discovery,
        authentication: Authentication::None,
        isid: [0x80, 0, 0, 0, 0, 1],
        tsih: 0,
        cid: 0,
        initiator_task_tag: 0,
        initial_cmd_sn: 1,
        proposal: OperationalProposal::default(),
    });
    for _ in 0..16 {
        let Ok(Some(pdu)) = decoder.decode(&mut buffer) else {
            return;
        };
        let mut wire = Vec::new();
        encode_pdu(&pdu, digests, &mut wire).expect("a decoded PDU encodes");
        let again = decoder.decode(&mut BytesMut::from(&wire[..]));
        assert_eq!(again, Ok(Some(pdu.clone())));
        if let Pdu::LoginResponse(response) = &pdu {
            let _ = login.handle_response(response);
        }
    }
});
