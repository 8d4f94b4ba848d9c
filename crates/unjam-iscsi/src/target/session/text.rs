//! Text requests in the full feature phase (RFC 7143 §11.10–§11.11): SendTargets answered,
//! other keys NotUnderstood, requests split with the C bit reassembled, and answers longer
//! than the initiator's MaxRecvDataSegmentLength sent in pieces that the initiator pulls with
//! empty requests carrying our Target Transfer Tag.
//!
//! Owns one exchange at a time (a new request ends any unfinished one); bounded by the text
//! limits of `text`.

use bytes::Bytes;

use super::REJECT_INVALID_PDU_FIELD;
use crate::pdu::{TargetSequence, TextRequest, TextResponse, RESERVED_TAG};
use crate::target::send_targets::{send_targets_text, PublishedTarget};
use crate::text::{TextAssembler, TextPairs, MAX_TEXT_LENGTH};

/// The Target Transfer Tag of a text exchange in pieces.
const TEXT_TRANSFER_TAG: u32 = 0x7e57_0000;

#[derive(Debug, Default)]
pub(super) struct TextExchange {
    assembler: TextAssembler,
    /// The rest of an answer being pulled: (initiator task tag, bytes).
    remaining: Option<(u32, Bytes)>,
}

impl TextExchange {
    /// The response to `request` (sequence fields left for the caller), or the reason to
    /// reject it.
    pub(super) fn handle(
        &mut self,
        request: &TextRequest,
        published: &[PublishedTarget],
        own: Option<&str>,
        max_segment: u32,
    ) -> Result<TextResponse, u8> {
        if request.target_transfer_tag != RESERVED_TAG {
            return self.next_piece(request, max_segment);
        }
        self.remaining = None;
        self.assembler
            .push(&request.data)
            .map_err(|_| REJECT_INVALID_PDU_FIELD)?;
        if request.cont {
            return Ok(response(request, Bytes::new(), false, TEXT_TRANSFER_TAG));
        }
        let pairs = self
            .assembler
            .finish()
            .map_err(|_| REJECT_INVALID_PDU_FIELD)?;
        let mut answers = TextPairs::new();
        for (key, value) in &pairs.0 {
            if key == "SendTargets" {
                answers.0.extend(send_targets_text(value, published, own).0);
            } else {
                answers.push(key, "NotUnderstood");
            }
        }
        let mut encoded = answers.encode();
        encoded.truncate(MAX_TEXT_LENGTH);
        self.remaining = Some((request.initiator_task_tag, Bytes::from(encoded)));
        self.next_piece_of_remaining(request, max_segment)
    }

    fn next_piece(&mut self, request: &TextRequest, max_segment: u32) -> Result<TextResponse, u8> {
        match &self.remaining {
            Some((itt, _))
                if *itt == request.initiator_task_tag
                    && request.target_transfer_tag == TEXT_TRANSFER_TAG =>
            {
                self.next_piece_of_remaining(request, max_segment)
            }
            _ => Err(REJECT_INVALID_PDU_FIELD),
        }
    }

    fn next_piece_of_remaining(
        &mut self,
        request: &TextRequest,
        max_segment: u32,
    ) -> Result<TextResponse, u8> {
        let Some((itt, mut rest)) = self.remaining.take() else {
            return Err(REJECT_INVALID_PDU_FIELD);
        };
        let take = rest.len().min(max_segment.max(512) as usize);
        let piece = rest.split_to(take);
        if rest.is_empty() {
            return Ok(response(request, piece, true, RESERVED_TAG));
        }
        self.remaining = Some((itt, rest));
        let mut answer = response(request, piece, false, TEXT_TRANSFER_TAG);
        answer.cont = true;
        Ok(answer)
    }
}

fn response(
    request: &TextRequest,
    data: Bytes,
    final_pdu: bool,
    target_transfer_tag: u32,
) -> TextResponse {
    TextResponse {
        final_pdu,
        cont: false,
        lun: request.lun,
        initiator_task_tag: request.initiator_task_tag,
        target_transfer_tag,
        sequence: TargetSequence::default(),
        data,
    }
}
