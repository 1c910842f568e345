//! Assigning a backlog: requests to offers under capacity so that the total score is as high as
//! possible. Solved as a min-cost flow (source → request → offer → sink; a request-offer edge
//! costs minus its score) by successive shortest paths with Dijkstra on reduced costs, stopping
//! when no path improves the total; the greedy assignment is computed beside it for comparison.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A backlog: how many requests, each offer's free places, and the options (request, offer,
/// weight); weights are scores in millionths, so sums are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Problem {
    pub requests: usize,
    pub capacity: Vec<u32>,
    pub options: Vec<(usize, usize, i64)>,
}

/// Per request, the option it got (an index into `options`), and the total weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Solution {
    pub chosen: Vec<Option<usize>>,
    pub total: i64,
}

struct Edge {
    to: usize,
    cap: i64,
    cost: i64,
}

/// The assignment with the largest total weight (not necessarily the most assignments: a
/// request is left out when no place helps the total).
pub(crate) fn optimal(p: &Problem) -> Solution {
    let (r, o) = (p.requests, p.capacity.len());
    let (source, sink, n) = (0, r + o + 1, r + o + 2);
    let mut edges: Vec<Edge> = Vec::new();
    let mut graph: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut add = |graph: &mut Vec<Vec<usize>>, from: usize, to: usize, cap: i64, cost: i64| {
        graph[from].push(edges.len());
        edges.push(Edge { to, cap, cost });
        graph[to].push(edges.len());
        edges.push(Edge { to: from, cap: 0, cost: -cost });
        edges.len() - 2
    };
    for q in 0..r {
        add(&mut graph, source, 1 + q, 1, 0);
    }
    let option_edges: Vec<usize> =
        p.options.iter().map(|&(q, f, w)| add(&mut graph, 1 + q, 1 + r + f, 1, -w)).collect();
    for (f, &c) in p.capacity.iter().enumerate() {
        add(&mut graph, 1 + r + f, sink, i64::from(c), 0);
    }

    // The graph is layered, so the first potentials are shortest distances computed layer by layer.
    let mut potential = vec![0i64; n];
    for &(_, f, w) in &p.options {
        potential[1 + r + f] = potential[1 + r + f].min(-w);
    }
    potential[sink] = (0..o).map(|f| potential[1 + r + f]).min().unwrap_or(0).min(0);

    let mut total = 0i64;
    loop {
        let mut dist = vec![i64::MAX; n];
        let mut via = vec![usize::MAX; n];
        let mut heap = BinaryHeap::new();
        dist[source] = 0;
        heap.push(Reverse((0i64, source)));
        while let Some(Reverse((d, v))) = heap.pop() {
            if d > dist[v] {
                continue;
            }
            for &e in &graph[v] {
                let edge = &edges[e];
                if edge.cap == 0 {
                    continue;
                }
                let reduced = edge.cost + potential[v] - potential[edge.to];
                let next = d + reduced;
                if next < dist[edge.to] {
                    dist[edge.to] = next;
                    via[edge.to] = e;
                    heap.push(Reverse((next, edge.to)));
                }
            }
        }
        if dist[sink] == i64::MAX {
            break;
        }
        let path_cost = dist[sink] + potential[sink] - potential[source];
        if path_cost >= 0 {
            break; // No augmenting path raises the total any more.
        }
        for v in 0..n {
            if dist[v] != i64::MAX {
                potential[v] += dist[v];
            }
        }
        let mut v = sink;
        while v != source {
            let e = via[v];
            edges[e].cap -= 1;
            edges[e ^ 1].cap += 1;
            v = edges[e ^ 1].to;
        }
        total -= path_cost;
    }
    let mut chosen = vec![None; r];
    for (i, &e) in option_edges.iter().enumerate() {
        if edges[e].cap == 0 {
            chosen[p.options[i].0] = Some(i);
        }
    }
    Solution { chosen, total }
}

/// Best option first: take it when the request is free and the offer has a place.
pub(crate) fn greedy(p: &Problem) -> Solution {
    let mut order: Vec<usize> = (0..p.options.len()).collect();
    order.sort_by_key(|&i| (Reverse(p.options[i].2), p.options[i].0, p.options[i].1));
    let mut left = p.capacity.clone();
    let mut chosen = vec![None; p.requests];
    let mut total = 0;
    for i in order {
        let (q, f, w) = p.options[i];
        if chosen[q].is_none() && left[f] > 0 && w > 0 {
            chosen[q] = Some(i);
            left[f] -= 1;
            total += w;
        }
    }
    Solution { chosen, total }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every way to give each request one of its options or none, within capacity: the best total.
    fn brute_force(p: &Problem) -> i64 {
        fn go(p: &Problem, q: usize, left: &mut Vec<u32>) -> i64 {
            if q == p.requests {
                return 0;
            }
            let mut best = go(p, q + 1, left);
            for &(r, f, w) in p.options.iter().filter(|o| o.0 == q) {
                debug_assert_eq!(r, q);
                if left[f] > 0 {
                    left[f] -= 1;
                    best = best.max(w + go(p, q + 1, left));
                    left[f] += 1;
                }
            }
            best
        }
        go(p, 0, &mut p.capacity.clone())
    }

    fn problems() -> impl Strategy<Value = Problem> {
        (1usize..=6, 1usize..=4).prop_flat_map(|(requests, offers)| {
            let capacity = proptest::collection::vec(0u32..=2, offers);
            let options = proptest::collection::vec((0..requests, 0..offers, 1i64..1_000_000), 0..=requests * offers);
            (Just(requests), capacity, options).prop_map(|(requests, capacity, mut options)| {
                options.sort_by_key(|o| (o.0, o.1));
                options.dedup_by_key(|o| (o.0, o.1));
                Problem { requests, capacity, options }
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_flow_equals_brute_force_and_beats_or_ties_greedy(p in problems()) {
            let best = optimal(&p);
            prop_assert_eq!(best.total, brute_force(&p));
            prop_assert!(best.total >= greedy(&p).total);
            // The solution is what it claims: one option per request, within capacity.
            let mut used = vec![0u32; p.capacity.len()];
            let mut sum = 0;
            for (q, c) in best.chosen.iter().enumerate() {
                if let Some(i) = c {
                    let (r, f, w) = p.options[*i];
                    prop_assert_eq!(r, q);
                    used[f] += 1;
                    sum += w;
                }
            }
            prop_assert!(used.iter().zip(&p.capacity).all(|(u, c)| u <= c));
            prop_assert_eq!(sum, best.total);
        }
    }

    #[test]
    fn greedy_can_be_beaten() {
        // Request 0 likes offer 0 a bit more, but request 1 can only use offer 0.
        let p = Problem { requests: 2, capacity: vec![1, 1], options: vec![(0, 0, 10), (0, 1, 9), (1, 0, 8)] };
        assert_eq!(greedy(&p).total, 10);
        assert_eq!(optimal(&p).total, 17);
    }
}
