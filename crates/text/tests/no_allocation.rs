//! A warm featurizer allocates nothing per post: the hot path of scoring reuses its
//! buffers. Counted with a global allocator that counts this thread's allocations.
//! The posts cover both stages of language identification: function words and,
//! for the last one, character trigrams.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use onrust_text::{
    FeatureConfig, Featurizer, Lang, LanguageIdentifier, Lexicon, WordFeatures, WordMemos,
};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const POSTS: &[(&str, Lang)] = &[
    (
        "Iedereen om 21:00 naar het plein!!! #ProjectXHaren 🔥🔥 @politie",
        Lang::NL,
    ),
    (
        "Dit is NIET normaal meer, heeeel erg... https://t.co/x",
        Lang::NL,
    ),
    (
        "Één café in 's-Hertogenbosch, ﬁjn dat het er is 👍🏽",
        Lang::NL,
    ),
    (
        "they aren't coming tonight, don't worry 🇳🇱 #StaySafe",
        Lang::EN,
    ),
    ("Die Polizei ist nicht da, wir sind hier!", Lang::DE),
    (
        "Ongelooflijke verkeersopstoppingen richting Groningen vanochtend",
        Lang::NL,
    ),
];

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn warm_featurizer_and_language_identification_allocate_nothing() {
    let identifier = LanguageIdentifier::new();
    let lexicon = Lexicon::from_entries([("normaal", 0.2), ("worry", -0.3)]);
    let config = FeatureConfig::default();
    let mut featurizer = Featurizer::new();
    let run = |featurizer: &mut Featurizer| {
        let mut total = 0usize;
        for (text, lang) in POSTS {
            featurizer.tokenize(text);
            let (detected, _) = identifier.identify(featurizer.tokens());
            assert_eq!(detected, *lang, "{text}");
            total += featurizer.extract(detected, &config, Some(&lexicon)).len();
        }
        total
    };
    let warm_features = run(&mut featurizer);
    let mut again = 0;
    let allocations = allocations_during(|| again = run(&mut featurizer));
    assert_eq!(again, warm_features, "same posts, same features");
    assert_eq!(
        allocations, 0,
        "a warm featurizer allocated {allocations} times"
    );
}

/// Memos of a word's features summed, as a model keeps them.
struct Sums {
    total: f32,
}

impl WordMemos for Sums {
    type Memo = f32;
    fn owner(&self) -> u32 {
        1
    }
    fn derive(&mut self, word: &WordFeatures<'_>) -> f32 {
        word.ngrams.iter().map(|f| f.value).sum::<f32>() + word.word.value
    }
    fn add(&mut self, memo: &f32, _negated: bool) {
        self.total += memo;
    }
}

#[test]
fn warm_memoized_extraction_allocates_nothing() {
    let identifier = LanguageIdentifier::new();
    let lexicon = Lexicon::from_entries([("normaal", 0.2), ("worry", -0.3)]);
    let config = FeatureConfig::default();
    let mut featurizer = Featurizer::with_memos();
    let run = |featurizer: &mut Featurizer<f32>| {
        let mut sums = Sums { total: 0.0 };
        let mut features = 0usize;
        for (text, _) in POSTS {
            featurizer.tokenize(text);
            let (detected, _) = identifier.identify(featurizer.tokens());
            let (made, _) =
                featurizer.extract_memoized(detected, &config, Some(&lexicon), |_| {}, &mut sums);
            features += made.len();
        }
        (features, sums.total)
    };
    let warm = run(&mut featurizer);
    let mut again = (0, 0.0);
    let allocations = allocations_during(|| again = run(&mut featurizer));
    assert_eq!(again, warm, "same posts, same features and memos");
    assert!(warm.0 > 0 && warm.1 != 0.0, "{warm:?}");
    assert_eq!(
        allocations, 0,
        "a warm memoized extraction allocated {allocations} times"
    );
}
