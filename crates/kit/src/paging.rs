//! Paging of List RPCs (AIP-158): a page size within the service's bounds.

/// A page size within bounds: `default` when none is asked, at most `max`, at least 1.
pub fn page_size(requested: u32, default: u32, max: u32) -> usize {
    match requested {
        0 => default,
        n => n.min(max),
    }
    .max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_within_bounds() {
        assert_eq!((page_size(0, 50, 500), page_size(10_000, 50, 500), page_size(7, 50, 500)), (50, 500, 7));
        assert_eq!(page_size(0, 0, 500), 1);
    }
}
