//! The address of a LUN as the kernel writes it, `H:C:T:L` (host, channel, target, LUN), and
//! selectors that match sets of them (`0:0:*:*`). Owns parsing and printing only.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Host, channel (bus), target and LUN numbers of one path to a logical unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct LunAddress {
    pub host: u32,
    pub channel: u32,
    pub target: u32,
    pub lun: u64,
}

/// Why an `H:C:T:L` text did not parse.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("`{text}` is not an H:C:T:L address{detail}")]
pub struct AddressError {
    text: String,
    detail: &'static str,
}

impl LunAddress {
    pub const fn new(host: u32, channel: u32, target: u32, lun: u64) -> Self {
        LunAddress {
            host,
            channel,
            target,
            lun,
        }
    }

    /// The same target (host, channel and target numbers equal).
    pub fn same_target(&self, other: &LunAddress) -> bool {
        self.host == other.host && self.channel == other.channel && self.target == other.target
    }

    /// The same bus (host and channel numbers equal).
    pub fn same_bus(&self, other: &LunAddress) -> bool {
        self.host == other.host && self.channel == other.channel
    }
}

impl fmt::Display for LunAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.host, self.channel, self.target, self.lun
        )
    }
}

impl FromStr for LunAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let selector: AddressSelector = text.parse()?;
        let error = |detail| AddressError {
            text: text.to_string(),
            detail,
        };
        match selector.parts {
            [Some(host), Some(channel), Some(target), Some(lun)] => Ok(LunAddress {
                host: u32::try_from(host).map_err(|_| error(": host number too large"))?,
                channel: u32::try_from(channel).map_err(|_| error(": channel number too large"))?,
                target: u32::try_from(target).map_err(|_| error(": target number too large"))?,
                lun,
            }),
            _ => Err(error(": wildcards are not allowed here")),
        }
    }
}

/// A pattern over addresses: each of the four parts is a number or `*`. The text `*` alone
/// matches everything.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct AddressSelector {
    parts: [Option<u64>; 4],
}

impl AddressSelector {
    /// Matches every address.
    pub const ANY: AddressSelector = AddressSelector { parts: [None; 4] };

    /// Matches exactly one address.
    pub fn exact(address: LunAddress) -> Self {
        AddressSelector {
            parts: [
                Some(address.host as u64),
                Some(address.channel as u64),
                Some(address.target as u64),
                Some(address.lun),
            ],
        }
    }

    pub fn matches(&self, address: &LunAddress) -> bool {
        let values = [
            address.host as u64,
            address.channel as u64,
            address.target as u64,
            address.lun,
        ];
        self.parts
            .iter()
            .zip(values)
            .all(|(part, value)| part.is_none_or(|wanted| wanted == value))
    }
}

impl fmt::Display for AddressSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, part) in self.parts.iter().enumerate() {
            if index > 0 {
                f.write_str(":")?;
            }
            match part {
                Some(value) => write!(f, "{value}")?,
                None => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

impl FromStr for AddressSelector {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |detail| AddressError {
            text: text.to_string(),
            detail,
        };
        let trimmed = text.trim();
        if trimmed == "*" {
            return Ok(AddressSelector::ANY);
        }
        let mut parts = [None; 4];
        let mut count = 0;
        for (index, piece) in trimmed.split(':').enumerate() {
            let slot = parts
                .get_mut(index)
                .ok_or_else(|| error(": more than four parts"))?;
            count = index + 1;
            if piece == "*" {
                continue;
            }
            *slot = Some(
                piece
                    .parse()
                    .map_err(|_| error(": a part is not a number or `*`"))?,
            );
        }
        if count != 4 {
            return Err(error(": expected four parts"));
        }
        Ok(AddressSelector { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_round_trips() {
        let address: LunAddress = "1:0:2:300".parse().unwrap();
        assert_eq!(address, LunAddress::new(1, 0, 2, 300));
        assert_eq!(address.to_string(), "1:0:2:300");
        assert!("1:0:2".parse::<LunAddress>().is_err());
        assert!("1:0:*:0".parse::<LunAddress>().is_err());
        assert!("1:0:x:0".parse::<LunAddress>().is_err());
        assert!("1:0:0:0:0".parse::<LunAddress>().is_err());
        assert!("99999999999:0:0:0".parse::<LunAddress>().is_err());
    }

    #[test]
    fn selectors_match_by_part() {
        let selector: AddressSelector = "0:0:*:*".parse().unwrap();
        assert!(selector.matches(&LunAddress::new(0, 0, 5, 7)));
        assert!(!selector.matches(&LunAddress::new(1, 0, 5, 7)));
        assert!(AddressSelector::ANY.matches(&LunAddress::new(9, 9, 9, 9)));
        assert_eq!(selector.to_string(), "0:0:*:*");
        let exact = AddressSelector::exact(LunAddress::new(0, 0, 1, 2));
        assert!(exact.matches(&LunAddress::new(0, 0, 1, 2)));
        assert!(!exact.matches(&LunAddress::new(0, 0, 1, 3)));
    }
}
