//! The Caching mode page (08h, SBC-4 6.5.5): the write-back and read-cache switches.

use super::mode::ModePage;
use crate::cdb::error::ResponseError;

/// The Caching mode page fields unjam acts on. The builder writes the other fields as 0.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CachingPage {
    /// WCE: write-back caching is enabled (SYNCHRONIZE CACHE is needed for durability).
    pub wce: bool,
    /// RCD: the read cache is disabled.
    pub rcd: bool,
    /// DRA: read-ahead is disabled.
    pub dra: bool,
}

impl CachingPage {
    pub const PAGE_CODE: u8 = 0x08;
    /// The page's parameter bytes after its two-byte header (PAGE LENGTH 12h).
    pub const DATA_LEN: usize = 0x12;

    /// Reads the page; the parameter bytes must hold at least byte 2 of the page (the
    /// WCE/RCD byte). DRA reads as false when the page is too short to hold it.
    pub fn from_page(page: &ModePage<'_>) -> Result<CachingPage, ResponseError> {
        if page.page_code != Self::PAGE_CODE || page.subpage.is_some_and(|s| s != 0) {
            return Err(ResponseError::WrongPage {
                what: "caching mode page",
                expected: Self::PAGE_CODE,
                found: page.page_code,
            });
        }
        let flags = *page.data.first().ok_or(ResponseError::Truncated {
            what: "caching mode page",
            needed: 1,
            available: 0,
        })?;
        let flags2 = page.data.get(10).copied().unwrap_or(0);
        Ok(CachingPage {
            wce: flags & 0x04 != 0,
            rcd: flags & 0x01 != 0,
            dra: flags2 & 0x20 != 0,
        })
    }

    /// The page's parameter bytes, for a [`ModePage`] with page code 08h.
    pub fn to_data(&self) -> [u8; Self::DATA_LEN] {
        let mut data = [0; Self::DATA_LEN];
        data[0] = (if self.wce { 0x04 } else { 0 }) | (if self.rcd { 0x01 } else { 0 });
        data[10] = if self.dra { 0x20 } else { 0 };
        data
    }

    /// A [`ModePage`] over `data` (from [`Self::to_data`]).
    pub fn page(data: &[u8; Self::DATA_LEN], parameters_saveable: bool) -> ModePage<'_> {
        ModePage {
            page_code: Self::PAGE_CODE,
            subpage: None,
            parameters_saveable,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_pages() {
        let caching = CachingPage {
            wce: true,
            rcd: true,
            dra: true,
        };
        let data = caching.to_data();
        assert_eq!(
            CachingPage::from_page(&CachingPage::page(&data, false)),
            Ok(caching)
        );
        let control = ModePage {
            page_code: 0x0a,
            ..CachingPage::page(&data, false)
        };
        assert!(matches!(
            CachingPage::from_page(&control),
            Err(ResponseError::WrongPage { found: 0x0a, .. })
        ));
        let empty = ModePage {
            data: &[],
            ..CachingPage::page(&data, false)
        };
        assert!(matches!(
            CachingPage::from_page(&empty),
            Err(ResponseError::Truncated { .. })
        ));
    }
}
