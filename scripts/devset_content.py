"""What the development set says and shows: classes, their prompts, and the sentences, names and signs behind them.

Every list is split between the *fit* part and the *report* part by position (see `split`), so no sentence,
name or sign is in both. Hard negatives (near-miss sentences, unrelated signs, similar-sounding words) are
ordinary members of the lists, split the same way.
"""

from __future__ import annotations

# ---- conversation, semantic: topic -> (prompts, sentences) --------------------------------------------------
TOPICS = {
    "weather": (
        ["weather forecast", "talk about the weather"],
        [
            "Tomorrow will be cloudy with heavy rain in the afternoon and a cold wind from the north.",
            "Expect sunshine all weekend, with temperatures climbing to thirty degrees by Sunday.",
            "A band of snow is moving in overnight, so roads in the hills may be icy in the morning.",
            "Thunderstorms are likely this evening, and there is a warning for strong gusts along the coast.",
            "The fog should clear by midday, leaving a bright and mild afternoon across the region.",
            "Forecasters say the heatwave will break on Thursday when showers arrive from the west.",
            "Tonight will be frosty under clear skies, with lows of minus three in rural areas.",
            "Light drizzle in the morning, then dry and breezy, with a high of fourteen degrees.",
        ],
    ),
    "cooking": (
        ["cooking a meal", "a recipe in the kitchen"],
        [
            "Chop the onions finely and fry them in butter until they turn golden.",
            "Add two cups of flour, a pinch of salt, and stir the dough until it is smooth.",
            "Let the soup simmer for twenty minutes, then blend it with a little cream.",
            "Season the chicken with garlic and lemon and roast it for an hour in a hot oven.",
            "Whisk the eggs with sugar, fold in the melted chocolate, and bake the cake for forty minutes.",
            "Boil the pasta in salted water and toss it with fresh tomatoes and basil.",
            "Marinate the fish overnight, then grill it for four minutes on each side.",
            "Knead the bread for ten minutes and leave it to rise in a warm place.",
        ],
    ),
    "sport": (
        ["sport results", "a football match"],
        [
            "The home team scored twice in the last ten minutes to win the cup final.",
            "She won the marathon in record time, two minutes ahead of the defending champion.",
            "The striker was sent off after a foul, and his side lost the match three to nil.",
            "In tennis, the young player beat the world number one in five long sets.",
            "The cycling team took the lead on the mountain stage and kept the yellow jersey.",
            "Our goalkeeper saved a penalty in the final minute to keep the league title alive.",
            "The basketball game went to overtime before the visitors won by a single point.",
            "The swimmer broke the national record in the two hundred metres freestyle.",
        ],
    ),
    "travel": (
        ["travel and holidays", "a trip abroad"],
        [
            "We booked a flight to the islands and spent two weeks on the beach.",
            "The train journey across the mountains took nine hours, with amazing views from the window.",
            "Remember to bring your passport, and check in at the airport two hours before departure.",
            "Our hotel was close to the old town, so we walked to every museum and market.",
            "They rented a camper van and drove along the coast for a whole month.",
            "The ferry leaves the harbour at dawn and reaches the island by lunchtime.",
            "Backpackers love this city for its cheap hostels and its night markets.",
            "After the tour of the castle, our guide took us to a small village by the lake.",
        ],
    ),
    "health": (
        ["health and medicine", "a visit to the doctor"],
        [
            "The doctor said I should rest for a week and take the tablets twice a day.",
            "Regular exercise and a good night's sleep lower the risk of heart disease.",
            "The hospital has opened a new ward for children with breathing problems.",
            "If the fever does not go down by tomorrow, you should see a nurse at the clinic.",
            "The vaccine will be offered to everyone over sixty from next month.",
            "Drink plenty of water and avoid sugary snacks to keep your blood pressure in check.",
            "After the operation on her knee, she needed six weeks of physiotherapy.",
            "The pharmacist explained how often to take the medicine and what side effects to expect.",
        ],
    ),
    "money": (
        ["money and prices", "the economy and banking"],
        [
            "The bank raised interest rates again, so mortgages will cost more this year.",
            "Shares fell sharply on the stock market after the company reported a loss.",
            "Prices in the shops have gone up by six percent since last spring.",
            "I am saving a little every month to pay off my credit card debt.",
            "The government will cut taxes for small businesses from April.",
            "The value of the currency dropped against the dollar overnight.",
            "Workers are asking for higher wages to keep up with the rising cost of living.",
            "Investors moved their savings into gold when the markets became unstable.",
        ],
    ),
    "music": (
        ["music and concerts", "a band playing songs"],
        [
            "The orchestra played a symphony by Brahms to a full concert hall.",
            "The band's new album has ten songs, and the first single is already on the radio.",
            "She has been practising the violin for three hours every day before the audition.",
            "Thousands of fans sang along when the singer came back on stage for an encore.",
            "The jazz trio played late into the night at the little club by the river.",
            "He wrote the melody on the piano and then added drums and a bass line.",
            "The festival line-up includes rock bands, folk singers and a choir of two hundred voices.",
            "Our guitarist tuned his strings while the crowd waited for the concert to start.",
        ],
    ),
}

# Sentences about nothing of the above, and near misses that borrow a topic's words for something else.
NEUTRAL = [
    "My neighbour painted her fence blue and planted roses along the path.",
    "The children built a tree house in the garden during the school holidays.",
    "Please remember to switch off the lights when you leave the office.",
    "The library will be closed on Monday while the shelves are repaired.",
    "He spent the afternoon fixing the old clock that belonged to his grandfather.",
    "We need three more chairs for the meeting in the small room upstairs.",
    "The cat slept on the windowsill all morning, ignoring the birds outside.",
    "Our street is getting new lamps and a wider pavement this summer.",
    "She has a sunny personality, but her brother has a stormy temper.",  # weather words, not weather
    "The accountant was accused of cooking the books for years.",  # cooking words, not cooking
    "He was on cloud nine after the interview, and said it went like a dream.",
    "They had to face the music after the party got out of hand.",  # music words, not music
    "The committee will table the motion and vote on it next week.",
    "I keep my old letters in a shoebox under the bed.",
    "The software update changed the colour of every button on the screen.",
    "The puppy chewed one of my slippers while we were out.",
]

# ---- conversation, exact_match: rare names (each its own class), spoken in a carrier sentence ---------------
# near: words that sound alike (other places, common nouns); they are spoken in other videos of the same part.
NAMES = [
    ("Ouagadougou", ["wagon", "good"]),
    ("Antananarivo", ["Antonio", "arrival"]),
    ("Llandudno", ["landing", "London"]),
    ("Tegucigalpa", ["tequila", "gallop"]),
    ("Kirkcaldy", ["Kirkwall", "cold day"]),
    ("Saskatoon", ["Saskatchewan", "cartoon"]),
    ("Husqvarna", ["husband", "Havana"]),
    ("Szymborska", ["symbol", "Borneo"]),
    ("Przewalski", ["Warsaw", "pretzel"]),
    ("Nakamura", ["Nakuru", "camera"]),
    ("Tiruchirappalli", ["Tirana", "chapel"]),
    ("Mwanza", ["Monza", "bonanza"]),
]
CARRIERS = [
    ("Next week the whole team travels to", "for the conference."),
    ("The parcel was sent from", "on Tuesday morning."),
    ("Everyone was talking about", "at dinner last night."),
    ("The letter was signed by", "and posted the same day."),
]

# ---- text_in_video, semantic: kind -> (prompts, texts) ------------------------------------------------------
SIGNS = {
    "sale": (
        ["a sale sign", "discount prices in a shop"],
        [
            "SALE 50% OFF",
            "CLEARANCE SALE",
            "EVERYTHING HALF PRICE",
            "BUY ONE GET ONE FREE",
            "20% OFF ALL SHOES",
            "FINAL REDUCTIONS",
            "SPECIAL OFFER TODAY",
            "PRICES SLASHED",
        ],
    ),
    "news": (
        ["a news banner", "breaking news on television"],
        [
            "BREAKING NEWS",
            "LIVE: ELECTION RESULTS",
            "NEWS UPDATE: FLOODS IN THE NORTH",
            "WORLD NEWS TONIGHT",
            "LATEST HEADLINES",
            "BREAKING: MINISTER RESIGNS",
            "NEWS AT TEN",
            "LIVE REPORT FROM THE SUMMIT",
        ],
    ),
    "departures": (
        ["a departure board", "train or flight departures"],
        [
            "DEPARTURES 10:45 LEEDS PLATFORM 4",
            "GATE B12 NOW BOARDING",
            "FLIGHT BA283 DELAYED",
            "TRAIN TO YORK CANCELLED",
            "PLATFORM 9 - 11:20 BRISTOL",
            "FLIGHT LH404 GATE 22 ON TIME",
            "NEXT TRAIN: GLASGOW 14:05",
            "BOARDING GATE C7 - PARIS",
        ],
    ),
    "street": (
        ["a street sign", "the name of a street"],
        [
            "MAIN STREET",
            "OAK AVENUE",
            "HIGH STREET",
            "KING EDWARD ROAD",
            "STATION ROAD",
            "PARK LANE",
            "CHURCH STREET",
            "MILL LANE",
        ],
    ),
    "menu": (
        ["a restaurant menu", "food and drink prices at a cafe"],
        [
            "SOUP OF THE DAY 4.50",
            "TODAY'S SPECIALS: FISH AND CHIPS",
            "PIZZA MARGHERITA 8.00",
            "COFFEE 2.20 TEA 1.80",
            "BREAKFAST SERVED ALL DAY",
            "BURGER AND FRIES 9.50",
            "DESSERT MENU: APPLE PIE",
            "LUNCH MENU 12-3PM",
        ],
    ),
}
UNRELATED_SIGNS = [
    "WET PAINT",
    "PLEASE KNOCK",
    "HAPPY BIRTHDAY ANNA",
    "CHAPTER ONE",
    "WIFI PASSWORD: GUEST",
    "PRIVATE PROPERTY",
    "THE END",
    "QUIET PLEASE",
    "FIRE EXIT",
    "STAFF ONLY",
    "THANK YOU FOR VISITING",
    "LOST DOG - CALL 555 0199",
]
# text_in_video, exact_match: (word, near misses shown in other videos of the same part)
SIGN_WORDS = [
    ("TAXI", ["TAXES DUE"]),
    ("HOTEL", ["HOSTEL"]),
    ("PHARMACY", ["FARM SHOP"]),
    ("MUSEUM", ["MUSE CAFE"]),
    ("BAKERY", ["BAKERS DOZEN"]),  # not "BAKER STREET": that is a street, a true "street" sign
    ("POLICE", ["POLICY"]),
    ("CINEMA", ["CINNAMON ROLLS"]),
    ("LIBRARY", ["LIBRA"]),
]

# ---- visual: class -> (prompts, stamp folders under tuxpaint's stamps/, wallpaper names) ---------------------
VISUAL = {
    "bird": (["a bird"], ["animals/birds"], []),
    "big_cat": (["a lion", "a tiger"], ["animals/mammals/cats"], []),
    "cattle": (["a cow", "a sheep", "a goat"], ["animals/mammals/bovines"], []),
    "horse": (["a horse", "a zebra"], ["animals/mammals/equines"], []),
    "fish": (["a fish"], ["animals/fish"], []),
    "insect": (["an insect"], ["animals/insects"], []),
    "fruit": (["fruit", "an apple"], ["food/fruit"], []),
    "vegetable": (["vegetables"], ["food/vegetables"], []),
    "flower": (["a flower"], ["plants/flowers"], []),
    "car": (["a car"], ["vehicles/auto", "vehicles/emergency", "vehicles/race"], []),
    "instrument": (["a musical instrument", "a guitar"], ["hobbies/music"], []),
    "tool": (["a hand tool", "a hammer"], ["household/tools"], []),
    "water": (["a lake", "the sea"], [], ["BytheWater", "EveningGlow", "ColdRipple", "Volna", "summer_1am"]),
}
# Stamps of no class (look-alikes and unrelated objects), and where a stamp is neither right nor wrong.
NEGATIVE_STAMPS = [
    "animals/mammals/deer",
    "animals/mammals/dogs",
    "animals/mammals/rodents",
    "animals/mammals/aquatic",
    "animals/mammals/camel",
    "animals/mammals/bears",
    "animals/marsupials",
    "animals/amphibians",
    "clothes",
    "household/dishes",
    "household/arttools",
    "space",
    "medical",
    "sports",
    "town/roadsigns",
    "vehicles/flight",
    "vehicles/ship",
    "military/vehicles",
    "plants/trees",
    "plants/mushrooms",
]
AMBIGUOUS_STAMPS = {
    "animals/mammals/aquatic": "fish",
    "plants/trees": "fruit",
    "vehicles/emergency/firetruck": "car",
    "vehicles/garbagetruck": "car",
    "food/vegetables/tomato": "fruit",
    "food/vegetables/pattypan_squash": "fruit",
    "food/fruit/avocado": "vegetable",
}
# Artwork: abstract wallpapers (negatives and backgrounds); two are stylised look-alikes of a class.
ABSTRACT = [
    "Cascade",
    "Cluster",
    "ColorfulCups",
    "DarkestHour",
    "Elarun",
    "Flow",
    "Honeywave",
    "IceCold",
    "Kokkini",
    "Opal",
    "PastelHills",
    "Patak",
    "Shell",
    "Kay",
    "Altai",
    "Canopee",
    "Grey",
    "MilkyWay",
    "2004default",
    "city",
    "desert",
    "fluent-color",
    "rhythm",
    "rollpaper",
    "string",
    "the-mouse",
]
AMBIGUOUS_ART = {"calla": "flower", "goldfish": "fish"}

VOICES = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-us+f3",
    "en-gb+f2",
    "en-us+m4",
]
SPEEDS = [135, 150, 165, 180]
FONTS = [
    "DejaVuSans-Bold",
    "DejaVuSerif-Bold",
    "DejaVuSans",
    "LiberationSans-Bold",
    "LiberationSerif-Bold",
    "LiberationMono-Bold",
    "LiberationSansNarrow-Bold",
]


def split(items: list, part: str) -> list:
    """Even positions go to the fit part, odd ones to the report part: disjoint, and stable as lists grow."""
    return items[0 if part == "fit" else 1 :: 2]
