//! Languages and language identification.
//!
//! Short posts defeat general detectors, and a general detector can cost more than
//! the rest of scoring together. So identification has two stages: a fast vote of
//! frequent function words ("de", "het", "niet", "the", "and", "der", "les", ...) that
//! settles almost every post of a few words in well under a microsecond, and for the
//! rest a character-trigram detector (the `whatlang` crate, restricted to the
//! languages we can stem) on the whole text. A post that neither stage can place is
//! [`Lang::UNDETERMINED`]; the caller decides which model scores it.

use rustc_hash::FxHashMap;

use crate::tokenize::{TokenKind, Tokens};

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
    (Lang::NL, "de het een en van ik je jij dat die niet is op te in met zijn voor maar ook als er wat nog bij aan om dan wel naar hij ze we wij mijn kan geen meer heb heeft wordt werd deze dit zo al of uit door over onze jullie hun zij echt gewoon gaan gaat komt moet moeten nu hier daar waarom hoe wie alleen zonder tegen allemaal iedereen niks niets weer heel erg veel ben bent hebben kunnen zou mensen hoor toch even nou na rond boven onder tussen tijdens sinds omdat want dus toen alweer opnieuw overal iets zoals ja nee jouw haar hem ons waar wanneer welke twee drie vier vijf tien jaar dag week avond nacht vanavond vannacht vandaag gisteren morgen straks lekker mooi leuk goed slecht groot klein nieuw oud buurt wijk stad straat politie gemeente vrede rust oma opa kinderen zonder helemaal gelukkig bedankt dank succes eindelijk weekend zaterdag zondag maandag wedstrijd"),
    (Lang::EN, "a i the and is are was were to of in that it you for on with this be have has not but they we at by from or an what all your my me so just can will would about there their been if out up do don't no get like one know who when how why our more now only them here going i'm it's can't people really his her him she he please against between near yes thanks thank love good great day today tonight tomorrow yesterday night week year gotta gonna wanna lol omg u ur im dont cant wont didnt doesnt isnt these those which where while after before because again still never every some any much many very too than then should could must being its off over down back new old first last best worst happy sad police street town city"),
    (Lang::DE, "der die das und ist nicht ich du er sie wir ihr es ein eine einen dem den des mit von zu auf für auch sich noch wie aber nur oder wenn schon sind war werden wird hat haben kein keine mehr heute jetzt hier alle doch mal bei nach aus um über gegen wieder sehr mein meine dein unser euch uns ihm ihn nichts etwas immer gestern morgen abend nacht woche jahr stadt straße polizei leute heute endlich schön gut schlecht geil danke bitte warum weil dass also gibt geht kann muss soll will wurde wurden"),
    (Lang::FR, "le la les un une des et est sont pas ne je tu il elle nous vous ils elles ce cette qui que dans sur pour avec sans mais ou où donc au aux du de c'est j'ai très tout tous aussi plus moins ici ça déjà encore soir demain hier aujourd'hui toujours jamais rien personne quoi comme quand parce mon ma mes ton ta tes son sa ses notre votre leur bien mal merci voilà oui non trop vraiment ville rue quartier police gens"),
    (Lang(*b"es"), "el la los las un una y es son no que en por para con pero muy más como está esto esta todo todos también ya hoy aquí yo tú él ella del al se lo le de mi tu su nos gracias porque cuando donde hay hace bien mal mañana noche ciudad calle gente"),
    (Lang(*b"it"), "il lo la gli le un una e è sono non che di in per con ma molto più come questo questa tutto tutti anche già oggi qui io tu lui lei noi del della ci si mio mia suo sua grazie perché quando dove bene male domani sera città strada gente"),
    (Lang(*b"pt"), "o a os as um uma e é são não que em por para com mas muito mais como este esta isso tudo todos também já hoje aqui eu você ele ela nós do da dos das no na de meu minha seu sua obrigado porque quando onde bem mal amanhã noite cidade rua gente"),
];

/// The languages the trigram stage may answer. Its cost grows with the number of
/// language profiles it compares (about 18,000 instructions each), so the list is
/// kept to the four that matter most here; other languages are found by their
/// function words or come out `und`, and are scored by the fallback model either way.
const TRIGRAM_LANGUAGES: &[(whatlang::Lang, Lang)] = &[
    (whatlang::Lang::Nld, Lang::NL),
    (whatlang::Lang::Eng, Lang::EN),
    (whatlang::Lang::Deu, Lang::DE),
    (whatlang::Lang::Fra, Lang::FR),
];

/// The function-word vote must reach this many votes (half a word: short posts often
/// have one or two common words, shared with other languages)...
const MIN_VOTES: f32 = 0.5;
/// ...and beat the runner-up by this factor, or the trigram stage decides.
const MIN_VOTE_RATIO: f32 = 1.5;

/// Identifies the language of a post. Build one and keep it: construction builds the
/// word table, identification then allocates nothing.
pub struct LanguageIdentifier {
    /// Word → the languages (bits, by position in [`FUNCTION_WORDS`]) it belongs to.
    votes: FxHashMap<&'static str, u8>,
    trigrams: whatlang::Detector,
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
        let mut votes: FxHashMap<&'static str, u8> = FxHashMap::default();
        for (slot, (_, words)) in FUNCTION_WORDS.iter().enumerate() {
            for word in words.split_whitespace() {
                *votes.entry(word).or_default() |= 1 << slot;
            }
        }
        let allow = TRIGRAM_LANGUAGES.iter().map(|(w, _)| *w).collect();
        Self {
            votes,
            trigrams: whatlang::Detector::with_allowlist(allow),
        }
    }

    /// Identifies the language of a tokenized post; `text` is its raw text, for the
    /// trigram stage.
    pub fn identify(&self, tokens: &Tokens, text: &str) -> (Lang, Method) {
        let mut tally = [0f32; FUNCTION_WORDS.len()];
        for (token, form) in tokens.iter() {
            if token.kind != TokenKind::Word || token.in_hashtag {
                continue;
            }
            if let Some(&languages) = self.votes.get(form) {
                let share = 1.0 / languages.count_ones() as f32;
                for (slot, votes) in tally.iter_mut().enumerate() {
                    if languages & (1 << slot) != 0 {
                        *votes += share;
                    }
                }
            }
        }
        let (mut best, mut second) = ((0usize, 0f32), 0f32);
        for (slot, &votes) in tally.iter().enumerate() {
            if votes > best.1 {
                second = best.1;
                best = (slot, votes);
            } else if votes > second {
                second = votes;
            }
        }
        if best.1 >= MIN_VOTES && best.1 >= MIN_VOTE_RATIO * second {
            return (FUNCTION_WORDS[best.0].0, Method::FunctionWords);
        }
        match self.trigrams.detect(text) {
            Some(info) if info.is_reliable() => TRIGRAM_LANGUAGES
                .iter()
                .find(|(w, _)| *w == info.lang())
                .map_or((Lang::UNDETERMINED, Method::Undetermined), |(_, lang)| {
                    (*lang, Method::Trigrams)
                }),
            _ => (Lang::UNDETERMINED, Method::Undetermined),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identify(text: &str) -> Lang {
        let identifier = LanguageIdentifier::new();
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        identifier.identify(&tokens, text).0
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
    fn codes_round_trip() {
        assert_eq!(Lang::from_code("NL"), Some(Lang::NL));
        assert_eq!(Lang::from_code("und"), Some(Lang::UNDETERMINED));
        assert_eq!(Lang::UNDETERMINED.as_str(), "und");
        assert_eq!(Lang::from_code("dutch"), None);
        assert_eq!(Lang::from_code("n1"), None);
    }

    #[test]
    fn every_function_word_language_has_a_stemmer() {
        assert!(FUNCTION_WORDS.iter().all(|(l, _)| l.stemmer().is_some()));
        assert!(TRIGRAM_LANGUAGES.iter().all(|(_, l)| l.stemmer().is_some()));
    }
}
