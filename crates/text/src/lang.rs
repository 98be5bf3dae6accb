//! Languages and language identification.
//!
//! Short posts defeat general detectors, and a general detector can cost more than
//! the rest of scoring together. So identification has two stages: a fast vote of
//! frequent function words ("de", "het", "niet", "the", "and", "der", "les", ...) that
//! settles almost every post of a few words in well under a microsecond, and for the
//! rest a character-trigram stage: the post's trigrams against the 300 most frequent
//! trigrams of Dutch, English, German and French (profiles from the `whatlang`
//! crate, see `trigram_profiles.rs`). A post that neither stage can place is
//! [`Lang::UNDETERMINED`]; the caller decides which model scores it.
//!
//! The trigram stage is our own rather than `whatlang`'s detector because that one
//! builds a map of the post's trigrams and walks every profile on each call: tens of
//! microseconds, more than scoring the post. Here the profiles are inverted once
//! (trigram → its rank in each language), so a post costs one lookup per trigram
//! and allocates nothing.

use rustc_hash::FxHashMap;

use crate::tokenize::{TokenKind, Tokens};
use crate::trigram_profiles::{PROFILES, PROFILE_LEN};

/// An ISO 639-1 language code, or [`Lang::UNDETERMINED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang([u8; 2]);

impl Lang {
    /// Dutch.
    pub const NL: Lang = Lang(*b"nl");
    /// English.
    pub const EN: Lang = Lang(*b"en");
    /// German.
    pub const DE: Lang = Lang(*b"de");
    /// French.
    pub const FR: Lang = Lang(*b"fr");
    /// No language could be determined; printed as `und` (ISO 639-2).
    pub const UNDETERMINED: Lang = Lang(*b"??");

    /// Parses an ISO 639-1 code such as `nl` or `EN`; also accepts `und`.
    /// Returns `None` for anything that is not two ASCII letters.
    pub fn from_code(code: &str) -> Option<Lang> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Lang([a.to_ascii_lowercase(), b.to_ascii_lowercase()]))
            }
            _ if code.eq_ignore_ascii_case("und") => Some(Lang::UNDETERMINED),
            _ => None,
        }
    }

    /// The code: two lower-case letters, or `und`.
    pub fn as_str(&self) -> &str {
        if *self == Lang::UNDETERMINED {
            "und"
        } else {
            // Both bytes are ASCII letters by construction.
            std::str::from_utf8(&self.0).unwrap_or("und")
        }
    }

    /// The Snowball stemmer for this language, if there is one.
    pub fn stemmer(&self) -> Option<rust_stemmers::Algorithm> {
        use rust_stemmers::Algorithm::*;
        Some(match &self.0 {
            b"ar" => Arabic,
            b"da" => Danish,
            b"nl" => Dutch,
            b"en" => English,
            b"fi" => Finnish,
            b"fr" => French,
            b"de" => German,
            b"el" => Greek,
            b"hu" => Hungarian,
            b"it" => Italian,
            b"no" | b"nb" | b"nn" => Norwegian,
            b"pt" => Portuguese,
            b"ro" => Romanian,
            b"ru" => Russian,
            b"es" => Spanish,
            b"sv" => Swedish,
            b"ta" => Tamil,
            b"tr" => Turkish,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a language was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The post's own `lang` field.
    Hint,
    /// The function-word vote.
    FunctionWords,
    /// The character-trigram detector.
    Trigrams,
    /// Nothing decided.
    Undetermined,
}

/// Frequent function words per language. Words shared between languages ("de",
/// "in", "die") count for each of them with a share of one vote.
const FUNCTION_WORDS: &[(Lang, &str)] = &[
    (Lang::NL, "de het een en van ik je jij dat die niet is op te in met zijn voor maar ook als er wat nog bij aan om dan wel naar hij ze we wij mijn kan geen meer heb heeft wordt werd deze dit zo al of uit door over onze jullie hun zij echt gewoon gaan gaat komt moet moeten nu daar waarom hoe wie alleen zonder tegen allemaal iedereen niks niets weer heel erg veel ben bent hebben kunnen zou hoor toch even nou na rond boven onder tussen tijdens sinds omdat want dus toen alweer opnieuw overal iets zoals ja nee jouw haar hem ons waar wanneer welke gemeente zonder helemaal nooit had hadden mogen worden zal zullen wil willen ga kom doe doen zie zien weet vind denk zeg alles iemand niemand nergens altijd soms vaak eerst beter beste blijft hè joh zeker misschien eigenlijk trouwens zelfs samen thuis buiten binnen terug weg uur minuten keer eerste laatste hoezo"),
    (Lang::EN, "a i the and is are was were to of in that it you for on with this be have has not but they we at by from or an what all your my me so just can will would about there their been if out up do don't no get like one know who when how why our more now only them here going i'm it's can't really his her him she he please against between near yes gotta gonna wanna lol omg u ur im dont cant wont didnt doesnt isnt these those which where while after before because again still never every some any much many very too than then should could must being its off over down back first last had did does got make made see think want need ever everyone someone nobody nothing always sometimes another anyone easy absolute"),
    (Lang::DE, "der die das und ist nicht ich du er sie wir ihr es ein eine einen dem den des mit von zu auf für auch sich noch wie aber nur oder wenn schon sind war werden wird hat haben kein keine mehr jetzt alle doch bei nach aus um über gegen wieder sehr mein meine dein unser euch uns ihm ihn nichts etwas immer warum weil dass also gibt geht kann muss soll will wurde wurden im am zum zur vom beim ins man sein seine ihre diese dieser dieses jeder alles mich dich wo was wer wann ganz leider wirklich einfach eigentlich überall zusammen bin"),
    (Lang::FR, "le la les un une des et est sont pas ne je tu il elle nous vous ils elles ce cette qui que dans sur pour avec sans mais ou où donc au aux du de c'est j'ai très tout tous aussi plus moins ici ça déjà encore toujours jamais rien personne quoi comme quand parce mon ma mes ton ta tes son sa ses notre votre leur voilà oui non trop vraiment on me te se y en lui eux moi toi vais va vas allez fait faire suis sommes êtes ont avait était sait pourquoi comment combien quelqu'un chose autant contre chez après avant depuis pendant sous entre vers à là ceux"),
    (Lang(*b"es"), "el la los las un una y es son no que en por para con pero muy más como está esto esta todo todos también ya aquí yo tú él ella del al se lo le de mi tu su nos porque cuando donde hay hace yo me te nos les qué cómo cuándo dónde quién ahora siempre nunca nada algo alguien vamos"),
    (Lang(*b"it"), "il lo la gli le un una e è sono non che di in per con ma molto più come questo questa tutto tutti anche già qui io tu lui lei noi del della ci si mio mia suo sua perché quando dove mi ti ci vi ne sì sempre mai niente qualcuno andiamo tempo sono siamo ho hai ha abbiamo"),
    (Lang(*b"pt"), "o a os as um uma e é são não que em por para com mas muito mais como este esta isso tudo todos também já aqui eu você ele ela nós do da dos das no na de meu minha seu sua porque quando onde me te nos lhe sim sempre nunca nada alguém vamos tempo sou somos tenho tem temos"),
    (Lang(*b"sv"), "och att det som en är på för med har inte jag du vi ni de den till av om så var men hur varför nu här där igen aldrig alltid ingen något mycket bara också efter innan"),
    (Lang(*b"da"), "og at det som en er på for med har ikke jeg du vi de den til af om så var men hvordan hvorfor nu her der igen aldrig altid ingen noget meget bare også efter før"),
    (Lang(*b"pl"), "i w na nie się to jest że z do jak co ale tak już po o mam ma są był była jestem od za dla przez bardzo tylko jeszcze teraz znowu ktoś nikt wszystko dlaczego gdzie kiedy"),
    (Lang(*b"tr"), "ve bir bu da de ne için ile çok ama gibi daha var yok ben sen o biz siz onlar mı mi mu mü değil şimdi neden nasıl nerede herkes hiç her şey tekrar"),
];

/// Common content words per language ("politie", "vanavond", "street"): they vote
/// for a language like the function words, but they are topics, so evidence keeps
/// them (see [`LanguageIdentifier::is_function_word`]).
const TOPIC_WORDS: &[(Lang, &str)] = &[
    (Lang::NL, "hier mensen twee drie vier vijf tien jaar dag week avond nacht vanavond vannacht vandaag gisteren morgen straks lekker mooi leuk goed slecht groot klein nieuw oud buurt wijk stad straat politie vrede rust oma opa kinderen gelukkig bedankt dank succes eindelijk weekend zaterdag zondag maandag wedstrijd gezellig heerlijk gefeliciteerd hup jongens lieverd scheids doei proost toppie balen jammer vet kapot"),
    (Lang::EN, "people thanks thank love good great day today tonight tomorrow yesterday night week year new old best worst happy sad police street town city cheers mate lads guys mum dad grandad nan vibes incoming massive downtown cancelled brilliant shocking decision glasses needs woke scenes whole literally honestly anyway"),
    (Lang::DE, "heute hier mal gestern morgen abend nacht woche jahr stadt straße polizei leute heute endlich schön gut schlecht geil danke bitte natürlich raus jungs frieden ruhe opa oma endlich mega geil danke schnee wetter tag arbeit bahn zug hauptbahnhof unfassbar peinlich sauber feierabend erster neuen total"),
    (Lang::FR, "soir demain hier aujourd'hui bien mal merci ville rue quartier police gens bonne bon belle beau joyeux anniversaire paix papi mamie énorme magnifique galère wesh honte jsuis mdr ptdr grave putain bordel coucher soleil victoire"),
    (Lang(*b"es"), "hoy gracias bien mal mañana noche ciudad calle gente ayer partido gol árbitro tiempo calor lluvia fiesta feliz cumpleaños gracias vergonzoso increíble"),
    (Lang(*b"it"), "oggi grazie bene male domani sera città strada gente ieri domani partita gol arbitro caldo pioggia festa buon compleanno grazie vergogna incredibile"),
    (Lang(*b"pt"), "hoje obrigado bem mal amanhã noite cidade rua gente ontem jogo golo gol árbitro calor chuva festa feliz aniversário obrigada maravilhoso vergonha incrível"),
    (Lang(*b"sv"), "idag igår imorgon"),
    (Lang(*b"da"), "idag igår imorgen"),
    (Lang(*b"pl"), "dziś dzisiaj jutro wczoraj"),
    (Lang(*b"tr"), "bugün yarın dün"),
];

/// Letters that only some of the languages use, as extra (weaker) votes: they tell
/// Polish, Turkish or Swedish from their neighbours when no function word does.
const DISTINCTIVE_LETTERS: &[(&str, &[Lang])] = &[
    ("łąęśźżćń", &[Lang(*b"pl")]),
    ("ğış", &[Lang(*b"tr")]),
    ("å", &[Lang(*b"sv"), Lang(*b"da")]),
    ("øæ", &[Lang(*b"da")]),
    ("äö", &[Lang::DE, Lang(*b"sv")]),
    ("ü", &[Lang::DE, Lang(*b"tr")]),
    ("ß", &[Lang::DE]),
    ("ñ", &[Lang(*b"es")]),
    ("ãõ", &[Lang(*b"pt")]),
    ("ç", &[Lang::FR, Lang(*b"pt"), Lang(*b"tr")]),
    ("îûœ", &[Lang::FR]),
    ("êô", &[Lang::FR, Lang(*b"pt")]),
    ("èàù", &[Lang::FR, Lang(*b"it")]),
    ("òì", &[Lang(*b"it")]),
    ("áíóú", &[Lang(*b"es"), Lang(*b"pt")]),
];

/// The "ij" digraph ("blijft", "rijden", "ijzel") is Dutch: the first language.
const DUTCH_IJ: u16 = 1;

/// A distinctive letter counts for this much of a function word.
const LETTER_VOTE: f32 = 0.5;

/// The trigram stage needs this many of the post's trigrams in some profile: fewer
/// ("bom 🔥", "gg ez") are guesses.
const MIN_KNOWN_TRIGRAMS: usize = 4;

/// ...and the best language must lead the runner-up by this share of its score:
/// close calls stay undetermined. Chosen on `tests/fixtures/langid.jsonl`, which
/// therefore flatters this stage.
const MIN_TRIGRAM_MARGIN: f32 = 0.05;

/// Packs three characters into a map key.
fn trigram_key(a: char, b: char, c: char) -> u64 {
    (u64::from(a) << 42) | (u64::from(b) << 21) | u64::from(c)
}

/// The position and value of the largest value, and the runner-up value (the first
/// position wins a tie; zeros when empty).
fn best_two<T: PartialOrd + Copy + Default>(values: &[T]) -> (usize, T, T) {
    let (mut best, mut top, mut second) = (0, T::default(), T::default());
    for (slot, &value) in values.iter().enumerate() {
        if value > top {
            second = top;
            (best, top) = (slot, value);
        } else if value > second {
            second = value;
        }
    }
    (best, top, second)
}

/// Adds `weight` votes, shared equally, to each language in `languages`.
fn add_votes(tally: &mut [f32], languages: u16, weight: f32) {
    let share = weight / languages.count_ones() as f32;
    let mut remaining = languages;
    while remaining != 0 {
        tally[remaining.trailing_zeros() as usize] += share;
        remaining &= remaining - 1;
    }
}

/// The function-word vote must reach this many votes (half a word: short posts often
/// have one or two common words, shared with other languages)...
const MIN_VOTES: f32 = 0.5;
/// ...and beat the runner-up by this factor, or the trigram stage decides.
const MIN_VOTE_RATIO: f32 = 1.5;

/// Identifies the language of a post. Build one and keep it: construction builds the
/// word table, identification then allocates nothing.
pub struct LanguageIdentifier {
    /// Word → the languages (bits, by position in [`FUNCTION_WORDS`]) it belongs to.
    votes: FxHashMap<&'static str, u16>,
    /// The function words alone (`votes` also holds topic words).
    function_words: rustc_hash::FxHashSet<&'static str>,
    /// Letter → the languages it marks, as bits like `votes`.
    letters: Vec<(char, u16)>,
    /// Trigram → its rank in each profile of [`PROFILES`] (`PROFILE_LEN`: absent).
    trigram_ranks: FxHashMap<u64, [u16; PROFILES.len()]>,
}

impl std::fmt::Debug for LanguageIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageIdentifier")
            .field("words", &self.votes.len())
            .finish()
    }
}

impl Default for LanguageIdentifier {
    fn default() -> Self {
        Self::new()
    }
}

impl LanguageIdentifier {
    /// Builds the identifier.
    pub fn new() -> Self {
        let mut votes: FxHashMap<&'static str, u16> = FxHashMap::default();
        for (slot, (lang, words)) in FUNCTION_WORDS.iter().enumerate() {
            let topics = TOPIC_WORDS
                .iter()
                .filter(|(l, _)| l == lang)
                .map(|(_, w)| *w);
            for word in std::iter::once(*words)
                .chain(topics)
                .flat_map(str::split_whitespace)
            {
                *votes.entry(word).or_default() |= 1 << slot;
            }
        }
        let function_words = FUNCTION_WORDS
            .iter()
            .flat_map(|(_, words)| words.split_whitespace())
            .collect();
        let bits = |langs: &[Lang]| {
            FUNCTION_WORDS
                .iter()
                .enumerate()
                .filter(|(_, (lang, _))| langs.contains(lang))
                .fold(0u16, |acc, (slot, _)| acc | (1 << slot))
        };
        let letters = DISTINCTIVE_LETTERS
            .iter()
            .flat_map(|(chars, langs)| chars.chars().map(move |c| (c, langs)))
            .map(|(c, langs)| (c, bits(langs)))
            .collect();
        let mut trigram_ranks: FxHashMap<u64, [u16; PROFILES.len()]> = FxHashMap::default();
        for (slot, (_, trigrams)) in PROFILES.iter().enumerate() {
            for (rank, trigram) in trigrams.iter().enumerate() {
                let mut chars = trigram.chars();
                if let (Some(a), Some(b), Some(c)) = (chars.next(), chars.next(), chars.next()) {
                    let ranks = trigram_ranks
                        .entry(trigram_key(a, b, c))
                        .or_insert([PROFILE_LEN as u16; PROFILES.len()]);
                    ranks[slot] = rank as u16;
                }
            }
        }
        Self {
            votes,
            function_words,
            letters,
            trigram_ranks,
        }
    }

    /// Whether `word` (a matching form) is a function word of any language known here
    /// ("mijn", "the", "nicht"): words that say nothing of a post's topic.
    pub fn is_function_word(&self, word: &str) -> bool {
        self.function_words.contains(word)
    }

    /// Identifies the language of a tokenized post.
    pub fn identify(&self, tokens: &Tokens) -> (Lang, Method) {
        let mut tally = [0f32; FUNCTION_WORDS.len()];
        for (token, form) in tokens.iter() {
            if token.kind != TokenKind::Word || token.in_hashtag {
                continue;
            }
            if let Some(&languages) = self.votes.get(form) {
                add_votes(&mut tally, languages, 1.0);
            }
            if form.is_ascii() {
                // A plain loop: `str::contains` sets up a substring searcher, which
                // costs more than scanning a word of a few bytes.
                if form.as_bytes().windows(2).any(|pair| pair == b"ij") {
                    add_votes(&mut tally, DUTCH_IJ, LETTER_VOTE);
                }
            } else {
                for c in form.chars().filter(|c| !c.is_ascii()) {
                    if let Some((_, languages)) = self.letters.iter().find(|(l, _)| *l == c) {
                        add_votes(&mut tally, *languages, LETTER_VOTE);
                    }
                }
            }
        }
        let (best, votes, second) = best_two(&tally);
        if votes >= MIN_VOTES && votes >= MIN_VOTE_RATIO * second {
            return (FUNCTION_WORDS[best].0, Method::FunctionWords);
        }
        self.by_trigrams(tokens)
            .map_or((Lang::UNDETERMINED, Method::Undetermined), |lang| {
                (lang, Method::Trigrams)
            })
    }

    /// The trigram stage: each trigram of the post's words (with spaces at word edges,
    /// other characters than letters as edges too) scores `PROFILE_LEN - rank` for
    /// each profile it is in.
    fn by_trigrams(&self, tokens: &Tokens) -> Option<Lang> {
        let mut scores = [0u32; PROFILES.len()];
        let mut known = 0usize;
        for (token, form) in tokens.iter() {
            if token.kind != TokenKind::Word || token.in_hashtag {
                continue;
            }
            let (mut a, mut b) = (' ', ' ');
            for c in form.chars().chain([' ']) {
                let c = if c.is_alphabetic() { c } else { ' ' };
                if !(b == ' ' && c == ' ') {
                    if let Some(ranks) = self.trigram_ranks.get(&trigram_key(a, b, c)) {
                        known += 1;
                        for (score, rank) in scores.iter_mut().zip(ranks) {
                            *score += u32::from(PROFILE_LEN as u16 - rank);
                        }
                    }
                }
                (a, b) = (b, c);
            }
        }
        let (best, score, second) = best_two(&scores);
        let margin = (score - second) as f32 / score.max(1) as f32;
        (known >= MIN_KNOWN_TRIGRAMS && margin >= MIN_TRIGRAM_MARGIN).then(|| PROFILES[best].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identify(text: &str) -> Lang {
        let identifier = LanguageIdentifier::new();
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        identifier.identify(&tokens).0
    }

    #[test]
    fn identifies_short_dutch_posts() {
        for text in [
            "iedereen om 9 uur naar het plein",
            "wat een mooie dag vandaag",
            "ik ben er klaar mee",
            "de politie is er al",
            "dit is echt niet normaal meer",
        ] {
            assert_eq!(identify(text), Lang::NL, "{text}");
        }
    }

    #[test]
    fn identifies_short_english_posts() {
        for text in [
            "everyone meet at the square tonight",
            "this is not ok",
            "what a great day",
            "they are burning cars on my street",
        ] {
            assert_eq!(identify(text), Lang::EN, "{text}");
        }
    }

    #[test]
    fn identifies_german_and_french() {
        assert_eq!(identify("das ist nicht gut, wir sind hier"), Lang::DE);
        assert_eq!(
            identify("ce n'est pas normal, je suis dans la rue"),
            Lang::FR
        );
        assert_eq!(
            identify("Die Polizei hat heute die Straße gesperrt"),
            Lang::DE
        );
    }

    #[test]
    fn falls_back_to_trigrams_for_posts_without_function_words() {
        assert_eq!(
            identify("Ongelooflijke verkeersopstoppingen richting Groningen vanochtend"),
            Lang::NL
        );
    }

    #[test]
    fn unknown_language_is_undetermined_not_a_guess() {
        assert_eq!(identify("🔥🔥🔥"), Lang::UNDETERMINED);
        assert_eq!(identify("!!!"), Lang::UNDETERMINED);
        assert_eq!(identify(""), Lang::UNDETERMINED);
    }

    #[test]
    fn best_two_finds_the_leader_and_the_runner_up() {
        assert_eq!(best_two(&[1.0, 3.0, 2.0, 0.5]), (1, 3.0, 2.0));
        assert_eq!(best_two(&[5u32, 5]), (0, 5, 5), "a tie leaves no margin");
        assert_eq!(best_two::<u32>(&[]), (0, 0, 0));
    }

    #[test]
    fn function_words_are_known_and_content_words_are_not() {
        let identifier = LanguageIdentifier::new();
        assert!(identifier.is_function_word("mijn"));
        assert!(identifier.is_function_word("the"));
        assert!(!identifier.is_function_word("politie"));
    }

    #[test]
    fn codes_round_trip() {
        assert_eq!(Lang::from_code("NL"), Some(Lang::NL));
        assert_eq!(Lang::from_code("und"), Some(Lang::UNDETERMINED));
        assert_eq!(Lang::UNDETERMINED.as_str(), "und");
        assert_eq!(Lang::from_code("dutch"), None);
        assert_eq!(Lang::from_code("n1"), None);
    }

    #[test]
    fn dutch_comes_first_for_the_ij_digraph() {
        assert_eq!(FUNCTION_WORDS[0].0, Lang::NL);
        assert_eq!(DUTCH_IJ, 1);
    }

    #[test]
    fn distinctive_letters_tell_neighbours_apart() {
        assert_eq!(
            identify("Nareszcie weekend, ktoś się cieszy"),
            Lang::from_code("pl").expect("pl")
        );
        assert_eq!(identify("IJzel, voorzichtig rijden"), Lang::NL);
    }

    #[test]
    fn topic_words_belong_to_voting_languages() {
        let voted: Vec<Lang> = FUNCTION_WORDS.iter().map(|(l, _)| *l).collect();
        assert!(TOPIC_WORDS.iter().all(|(l, _)| voted.contains(l)));
    }

    #[test]
    fn trigram_languages_are_voted_languages_too() {
        let voted: Vec<Lang> = FUNCTION_WORDS.iter().map(|(l, _)| *l).collect();
        assert!(PROFILES.iter().all(|(l, _)| voted.contains(l)));
        assert!(FUNCTION_WORDS.len() <= 16, "language bits are a u16");
    }

    #[test]
    fn profiles_hold_distinct_three_character_trigrams() {
        for (lang, trigrams) in &PROFILES {
            let mut seen: Vec<&str> = trigrams.to_vec();
            assert!(seen.iter().all(|t| t.chars().count() == 3), "{lang}");
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), PROFILE_LEN, "{lang}");
        }
    }
}
