//! Enums known by name (`Durability`, `CrashPoint`, `CrashMode`): each has `ALL` and
//! `name()`; [`known_by_name!`] gives it `Display` as that name, `by_name` to find a
//! value again and `names` to list them, so each type's `FromStr` only words its own
//! refusal.

/// `Display` as `self.name()`, `by_name(name) -> Option<Self>` over `Self::ALL`, and
/// `names()`, for an enum with both.
macro_rules! known_by_name {
    ($type:ty) => {
        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $type {
            /// The value whose [`name`](Self::name) is `name`.
            pub(crate) fn by_name(name: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|value| value.name() == name)
            }

            /// Every value's name, in order, comma-separated: for a refusal.
            #[allow(dead_code, reason = "not every type's refusal lists the names")]
            pub(crate) fn names() -> String {
                Self::ALL.map(|value| value.name()).join(", ")
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::fs::CrashMode;
    use crate::{CrashPoint, Durability};

    #[test]
    fn each_value_is_shown_as_its_name_and_parsed_back_and_refusals_list_the_names() {
        for mode in Durability::ALL {
            assert_eq!(mode.to_string().parse::<Durability>(), Ok(mode));
        }
        for point in CrashPoint::ALL {
            assert_eq!(point.to_string().parse::<CrashPoint>(), Ok(point));
        }
        for mode in CrashMode::ALL {
            assert_eq!(mode.to_string().parse::<CrashMode>(), Ok(mode));
        }
        assert_eq!(
            "paper".parse::<Durability>(),
            Err(
                "unknown durability mode \"paper\" (expected one of: memory, naive, snapshot, \
                 wal)"
                    .to_string()
            )
        );
        assert_eq!(
            "gently".parse::<CrashMode>(),
            Err(
                "unknown crash mode \"gently\" (kill, clean, random, torn, reorder, garbage)"
                    .to_string()
            )
        );
        assert_eq!(
            "sideways".parse::<CrashPoint>(),
            Err("unknown crash point \"sideways\"".to_string())
        );
    }
}
