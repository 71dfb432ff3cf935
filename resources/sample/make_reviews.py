"""Write the bundled sample dataset `reviews.csv`: short English (and a few Chinese) reviews
labelled `positive` or `negative`.

Every sentence comes from this file: hand-written phrase pools for 20 kinds of things people
review (products, places, services, films, books, games, apps), combined by 15 families of
sentence templates, plus ~160 hand-written standalone reviews (including negation, contrast,
mild sarcasm, non-ASCII typography and 20 Chinese reviews). The generator is seeded, so
running it again gives a byte-identical file:

    python resources/sample/make_reviews.py                   # rewrites reviews.csv here
    python resources/sample/make_reviews.py --output /tmp/x.csv
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 20240917
ROWS_PER_LABEL = 800
MIN_WORDS, MAX_WORDS = 8, 40
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "reviews.csv"


def _lines(block: str) -> list[str]:
    """The non-empty, stripped lines of a text block."""
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


# A phrase is (text, plural). In the pools a trailing "*" marks a plural noun phrase.
Phrase = tuple[str, bool]


def _phrases(block: str) -> list[Phrase]:
    return [(line.rstrip("*"), line.endswith("*")) for line in _lines(block)]


@dataclass
class Aspect:
    text: str
    plural: bool
    pos: list[str]  # adjectives; a leading "=" marks a phrase that takes no intensifier
    neg: list[str]


def _aspects(block: str) -> list[Aspect]:
    aspects = []
    for line in _lines(block):
        name, pos, neg = (part.strip() for part in line.split("|"))
        aspects.append(
            Aspect(
                name.rstrip("*"),
                name.endswith("*"),
                [a.strip() for a in pos.split(",")],
                [a.strip() for a in neg.split(",")],
            )
        )
    return aspects


@dataclass
class Domain:
    name: str
    past: bool  # aspects are described in the past tense ("the food was ...")
    verb: tuple[str, str]  # ("buy", "buying"): what a reviewer did with the subject
    subjects: list[Phrase]
    aspects: list[Aspect]
    pos_vps: list[str]  # verb phrases; {s} {es} {is} {was} {has} {it} agree with the subject
    neg_vps: list[str]
    pos_close: list[str]
    neg_close: list[str]
    compare: list[str]
    audience: list[str]
    price_intro: str  # "{price}" and "{subj}" are filled in
    prices: list[int]


def _domain(
    name: str,
    *,
    past: bool,
    verb: str,
    subjects: str,
    aspects: str,
    pos_vps: str,
    neg_vps: str,
    pos_close: str,
    neg_close: str,
    compare: str,
    audience: str,
    price_intro: str,
    prices: str,
) -> Domain:
    base, gerund = (v.strip() for v in verb.split("/"))
    return Domain(
        name=name,
        past=past,
        verb=(base, gerund),
        subjects=_phrases(subjects),
        aspects=_aspects(aspects),
        pos_vps=_lines(pos_vps),
        neg_vps=_lines(neg_vps),
        pos_close=_lines(pos_close),
        neg_close=_lines(neg_close),
        compare=_lines(compare),
        audience=_lines(audience),
        price_intro=price_intro,
        prices=[int(p) for p in prices.split()],
    )


DOMAINS: list[Domain] = [
    _domain(
        "headphones",
        past=False,
        verb="buy/buying",
        subjects="""
            this headset
            these earbuds*
            the Aurora 500 headphones*
            my new wireless earbuds*
            this pair of headphones
            the budget earphones*
        """,
        aspects="""
            the sound quality | rich, crisp, balanced, clear | muddy, tinny, flat, distorted
            the noise cancelling | effective, impressive, =seriously good | weak, useless, =barely noticeable
            the battery life | long, outstanding, reliable | short, pathetic, unreliable
            the ear cushions* | soft, comfortable, plush | stiff, scratchy, =cheap-feeling
            the Bluetooth connection | stable, =rock-solid, quick | patchy, unreliable, flaky
            the microphone | clear, decent, crisp | muffled, useless, crackly
            the charging case | compact, sturdy, =pocket-sized | bulky, flimsy, awkward
            the bass | punchy, deep, tight | boomy, weak, overpowering
        """,
        pos_vps="""
            sound{s} amazing for the price
            stay{s} put even when I go running
            last{s} a full week of commuting on one charge
            pair{s} with my phone in seconds
            block{s} out the rattle of the train completely
            make{s} old albums sound new again
            {has} replaced my expensive pair entirely
            feel{s} light enough to forget I'm wearing {it}
        """,
        neg_vps="""
            hurt{s} my ears after twenty minutes
            keep{s} disconnecting from my laptop
            died after barely a month
            crackle{s} whenever I turn my head
            leak{s} so much sound that the whole office hears my music
            fell apart at the hinge within weeks
            fall{s} out of my ears every few steps
            refuse{s} to pair with anything but one phone
        """,
        pos_close="""
            My commute is so much better now.
            Worth every penny.
            I wear them every single day.
            Easily the best audio purchase I've made.
        """,
        neg_close="""
            Back in the box they go.
            I'm going back to wired.
            Save your money.
            Returned the same week.
        """,
        compare="""
            my old pair
            the ones that came with my phone
            headphones twice the price
            the previous model
        """,
        audience="""
            anyone who commutes
            runners
            people who work in open offices
            students on a budget
        """,
        price_intro="Paid {price} for {subj}",
        prices="39 49 79 99 129 149 199 249",
    ),
    _domain(
        "laptop",
        past=False,
        verb="buy/buying",
        subjects="""
            this laptop
            the Vireo 14
            my new notebook
            this ultrabook
            the refurbished laptop I ordered
        """,
        aspects="""
            the keyboard | comfortable, quiet, responsive | mushy, cramped, rattly
            the screen | bright, sharp, gorgeous | dim, =washed-out, grainy
            the battery | =long-lasting, excellent, dependable | weak, disappointing, =hopeless
            the trackpad | smooth, precise, generous | jumpy, tiny, unresponsive
            the fans* | quiet, =almost silent | loud, whiny, =constantly running
            the speakers* | full, loud, clear | tinny, weak, crackly
            the performance | snappy, fast, smooth | sluggish, laggy, =painfully slow
            the build quality | solid, premium, excellent | flimsy, cheap, creaky
        """,
        pos_vps="""
            boot{s} up in a few seconds
            handle{s} photo editing without breaking a sweat
            stay{s} cool even under heavy load
            get{s} through a full workday on a single charge
            feel{s} solid and well built
            {has} been completely reliable through my whole degree
            run{s} everything I throw at {it}
        """,
        neg_vps="""
            overheat{s} during every video call
            crashed twice in the first week
            take{s} forever to wake from sleep
            arrived with a dead pixel in the middle of the screen
            {has} a hinge that already feels loose
            slow{s} to a crawl the moment I open a few tabs
            shut{s} down without warning at thirty percent battery
        """,
        pos_close="""
            Best laptop I've owned.
            Worth every penny.
            A joy to work on.
            Would buy it again tomorrow.
        """,
        neg_close="""
            Returning it.
            I regret not spending a bit more elsewhere.
            Avoid this model.
            Support was no help either.
        """,
        compare="""
            my old laptop
            laptops that cost twice as much
            the previous generation
            my work machine
        """,
        audience="""
            students
            anyone who travels for work
            writers
            people on a tight budget
        """,
        price_intro="Paid {price} for {subj}",
        prices="399 499 649 799 899 1099 1299",
    ),
    _domain(
        "kitchen",
        past=False,
        verb="buy/buying",
        subjects="""
            this blender
            the air fryer
            this kettle
            my new toaster
            the stand mixer
            this slow cooker
            the espresso machine
            this food processor
        """,
        aspects="""
            the build quality | solid, excellent, sturdy | cheap, flimsy, poor
            the controls* | intuitive, simple, clear | confusing, fiddly, unresponsive
            the noise level | low, reasonable, bearable | unbearable, deafening, ridiculous
            the design | sleek, compact, elegant | clunky, bulky, awkward
            the instructions* | clear, helpful, short | useless, confusing, =badly translated
            the lid | secure, =easy to clean | loose, flimsy, =impossible to clean
            the cord | long, =tidy to store | short, stiff, =far too short
        """,
        pos_vps="""
            work{s} exactly as advertised
            clean{s} up in seconds
            {has} earned a permanent spot on my counter
            feel{s} like {it} will last for years
            {is} easy enough for my kids to use
            {has} made weeknight cooking so much quicker
            heat{s} up in under a minute
        """,
        neg_vps="""
            stopped working after two weeks
            leak{s} all over the counter
            smell{s} of burning plastic every time I use {it}
            {is} so loud that the dog hides
            arrived with a cracked lid
            broke the second time I used {it}
            scratch{es} if you so much as look at {it}
        """,
        pos_close="""
            Worth every penny.
            Great little machine.
            My kitchen essential now.
            Would happily buy it again.
        """,
        neg_close="""
            Back to the shop it goes.
            Save your money.
            A complete waste of counter space.
            Cheap in every sense.
        """,
        compare="""
            my old one
            the brand my parents swear by
            models that cost twice as much
            the one it replaced
        """,
        audience="""
            busy parents
            anyone with a small kitchen
            people who cook every day
            first-time home owners
        """,
        price_intro="Paid {price} for {subj}",
        prices="25 30 45 59 79 99 149 249",
    ),
    _domain(
        "phone",
        past=False,
        verb="buy/buying",
        subjects="""
            this phone
            the Nova 8
            my new smartphone
            this budget phone
            the phone case I ordered
        """,
        aspects="""
            the camera | excellent, sharp, reliable | grainy, disappointing, slow
            the battery | =long-lasting, dependable, excellent | weak, =hopeless, disappointing
            the screen | bright, vivid, smooth | dim, dull, =easily scratched
            the software | clean, fast, polished | buggy, bloated, sluggish
            the fingerprint reader | fast, accurate | unreliable, slow, fussy
            the speakers* | loud, clear | tinny, quiet, distorted
            the charging speed | impressive, fast | slow, =painfully slow
        """,
        pos_vps="""
            take{s} stunning photos even at night
            last{s} two days on a single charge
            feel{s} great in the hand
            run{s} every app without a hint of lag
            survived a drop onto concrete without a scratch
            {has} received every update on time
        """,
        neg_vps="""
            freeze{s} several times a day
            drain{s} its battery overnight doing nothing
            overheat{s} when I use the camera
            cracked the first time I dropped {it}
            keep{s} dropping calls in my own living room
            come{s} stuffed with apps I can't uninstall
        """,
        pos_close="""
            Best phone I've had.
            Great value.
            No regrets at all.
            I've recommended it to my whole family.
        """,
        neg_close="""
            Returned it within the week.
            Not worth the money.
            Avoid.
            I miss my old phone.
        """,
        compare="""
            my old flagship
            phones that cost twice as much
            the previous model
            my partner's phone
        """,
        audience="""
            anyone on a budget
            photographers
            older relatives
            teenagers
        """,
        price_intro="Paid {price} for {subj}",
        prices="19 29 199 299 399 549 799",
    ),
    _domain(
        "home appliance",
        past=False,
        verb="buy/buying",
        subjects="""
            this vacuum
            the robot vacuum
            our new vacuum cleaner
            this stick vacuum
            the cordless vacuum
            the handheld vacuum
        """,
        aspects="""
            the suction | strong, powerful, impressive | weak, pathetic, =barely there
            the battery | =long-lasting, reliable | short, unreliable, disappointing
            the noise level | low, tolerable | deafening, unbearable, awful
            the app | simple, useful, reliable | buggy, confusing, pointless
            the filter | =easy to clean, effective | fiddly, =impossible to clean
            the design | compact, sleek, practical | bulky, awkward, clumsy
        """,
        pos_vps="""
            pick{s} up every bit of dog hair on the first pass
            run{s} quietly enough to use at night
            {has} made cleaning day so much easier
            handle{s} carpets and hard floors equally well
            {is} light enough to carry up the stairs with one hand
            {has} run every day for a year without a hitch
        """,
        neg_vps="""
            get{s} stuck under the sofa every single time
            barely pick{s} up crumbs
            trip{s} the fuse whenever I switch {it} on
            clog{s} up after every single room
            die{s} halfway through the living room
            make{s} a grinding noise that gets worse every week
        """,
        pos_close="""
            Wish I'd bought it sooner.
            Worth every cent.
            Great purchase.
            Genuinely life-changing.
        """,
        neg_close="""
            Returning it.
            Avoid.
            Total waste of money.
            Expected far better.
        """,
        compare="""
            our old one
            brands that cost twice as much
            the model it replaced
            my neighbour's
        """,
        audience="""
            pet owners
            anyone with allergies
            busy families
            people in small flats
        """,
        price_intro="Paid {price} for {subj}",
        prices="89 129 179 249 299 399 549",
    ),
    _domain(
        "clothing",
        past=False,
        verb="buy/buying",
        subjects="""
            these running shoes*
            this winter jacket
            the jeans I ordered*
            this dress
            these hiking boots*
            this wool jumper
            the rain coat
        """,
        aspects="""
            the fit | perfect, flattering, =true to size | awkward, tight, =way off
            the fabric | soft, breathable, thick | thin, itchy, cheap
            the stitching | neat, strong, tidy | loose, sloppy, =coming apart
            the colour | vibrant, rich, =exactly as pictured | faded, dull, =nothing like the photo
            the sizing | accurate, consistent | =all over the place, =completely wrong
            the material | durable, warm, lovely | scratchy, flimsy, =see-through
        """,
        pos_vps="""
            fit{s} perfectly straight out of the box
            {has} survived dozens of washes without fading
            keep{s} me warm on the coldest mornings
            get{s} compliments every time I wear {it}
            {is} comfortable from the very first wear
            still look{s} new after a year of use
        """,
        neg_vps="""
            shrank two sizes after one wash
            fell apart after a month
            gave me blisters on the very first walk
            {is} nothing like the photos
            started pilling after a couple of wears
            smell{s} strongly of chemicals even after washing
            ripped at the seam the second time I wore {it}
        """,
        pos_close="""
            Buying another colour.
            Great quality for the price.
            Love {it}.
            My new favourite.
        """,
        neg_close="""
            Sent {it} back.
            Such a disappointment.
            Would not buy again.
            Save your money.
        """,
        compare="""
            my old pair
            high-street brands
            what I usually buy
            the expensive brand I used to wear
        """,
        audience="""
            anyone with wide feet
            hikers
            people who are always cold
            anyone who hates ironing
        """,
        price_intro="Paid {price} for {subj}",
        prices="25 35 49 65 89 120 180",
    ),
    _domain(
        "furniture",
        past=False,
        verb="buy/buying",
        subjects="""
            this sofa
            the standing desk
            our new mattress
            this office chair
            the bookshelf
            this dining table
        """,
        aspects="""
            the assembly | quick, straightforward, painless | frustrating, confusing, endless
            the cushions* | comfortable, supportive, firm | lumpy, saggy, thin
            the wood | solid, beautiful, smooth | cheap, =easily scratched, flimsy
            the instructions* | clear, helpful | useless, confusing, =full of mistakes
            the finish | flawless, lovely, elegant | patchy, rough, uneven
            the frame | sturdy, solid, =rock-solid | wobbly, weak, flimsy
        """,
        pos_vps="""
            took twenty minutes to put together
            {has} fixed my back pain
            look{s} far more expensive than {it} was
            feel{s} sturdy enough to last a lifetime
            fit{s} our small living room perfectly
            {is} comfortable even after a long working day
        """,
        neg_vps="""
            wobble{s} no matter how much I tighten the screws
            arrived with two panels missing
            sagged in the middle within three months
            creak{s} every time I sit down
            scratch{es} at the slightest touch
            took four hours to assemble and still looks crooked
        """,
        pos_close="""
            Very happy with it.
            Worth every penny.
            Would buy again.
            Great value.
        """,
        neg_close="""
            Returning it.
            Never again.
            Avoid.
            What a waste of a weekend.
        """,
        compare="""
            our old one
            the showroom models
            furniture twice the price
            the one my parents have
        """,
        audience="""
            anyone who works from home
            small flats
            families with kids
            students
        """,
        price_intro="Paid {price} for {subj}",
        prices="79 149 249 399 549 799 999",
    ),
    _domain(
        "tools and outdoor",
        past=False,
        verb="buy/buying",
        subjects="""
            this cordless drill
            the lawnmower
            the hedge trimmer
            this pressure washer
            the leaf blower
            this circular saw
        """,
        aspects="""
            the battery | powerful, reliable, =long-lasting | weak, unreliable, =useless
            the build quality | solid, excellent, rugged | cheap, flimsy, poor
            the weight | light, manageable | heavy, awkward
            the power | impressive, ample, serious | weak, feeble, =barely enough
            the noise level | reasonable, tolerable | deafening, unbearable
            the handle | comfortable, =well balanced | awkward, slippery
            the storage case | sturdy, handy, compact | flimsy, bulky
        """,
        pos_vps="""
            {has} handled every job I've thrown at {it}
            start{s} first time, every time
            made short work of the whole garden
            {is} light enough to use with one hand
            run{s} for an hour on a single battery
            cut{s} through everything like butter
        """,
        neg_vps="""
            died after ten minutes of use
            vibrate{s} so much my hands went numb
            broke on its first proper job
            won't start without twenty pulls
            rust{s} if you so much as look at {it}
            leak{s} oil all over the shed floor
        """,
        pos_close="""
            Solid kit.
            Worth every penny.
            Would buy again.
            Great value for money.
        """,
        neg_close="""
            Back it goes.
            Save your money.
            Avoid.
            Cheap for a reason.
        """,
        compare="""
            my old one
            the big-name brands
            what I used before
            my neighbour's
        """,
        audience="""
            weekend DIYers
            DIY beginners
            keen gardeners
            anyone with a big garden
        """,
        price_intro="Paid {price} for {subj}",
        prices="29 45 69 99 149 229 329",
    ),
    _domain(
        "books",
        past=False,
        verb="read/reading",
        subjects="""
            this novel
            the memoir
            this thriller
            the author's new book
            this fantasy series
            the biography
        """,
        aspects="""
            the writing | beautiful, sharp, vivid | clumsy, flat, overwrought
            the plot | gripping, clever, tight | predictable, convoluted, thin
            the characters* | believable, memorable, =well drawn | flat, unlikeable, =paper-thin
            the ending | satisfying, moving, perfect | rushed, lazy, baffling
            the pacing | brisk, perfect, confident | sluggish, uneven, =painfully slow
            the dialogue | witty, natural, sharp | stilted, clunky, cringeworthy
        """,
        pos_vps="""
            kept me up until two in the morning
            made me laugh out loud on the bus
            {is} the best thing I've read this year
            stayed with me for weeks after I finished {it}
            had me hooked from the very first page
            deserve{s} every bit of praise {it} gets
        """,
        neg_vps="""
            put me to sleep every night, and not in a good way
            took three hundred pages to get going
            read{s} like a first draft
            lost me halfway through
            {is} padded with chapters that go nowhere
            end{s} on a cliffhanger that feels like a cheap trick
        """,
        pos_close="""
            Read it.
            A new favourite.
            Five stars.
            I've already ordered the sequel.
        """,
        neg_close="""
            Not worth the time.
            I gave up at chapter ten.
            What a letdown.
            Skip it.
        """,
        compare="""
            the author's earlier books
            the first book in the series
            most of what I read last year
            the film adaptation
        """,
        audience="""
            anyone who loves a good mystery
            teenagers
            book clubs
            fans of historical fiction
        """,
        price_intro="Paid {price} for {subj}",
        prices="9 12 15 18 22 28",
    ),
    _domain(
        "movies",
        past=True,
        verb="watch/watching",
        subjects="""
            this film
            the movie
            the sequel
            the new thriller
            this documentary
            the animated film
            this romantic comedy
        """,
        aspects="""
            the acting | superb, convincing, moving | wooden, =over the top, flat
            the plot | gripping, clever, tight | predictable, confusing, =paper-thin
            the soundtrack | haunting, beautiful, memorable | forgettable, intrusive, grating
            the pacing | perfect, brisk | sluggish, uneven, =painfully slow
            the dialogue | sharp, witty, natural | clunky, cringeworthy, stilted
            the ending | satisfying, powerful, unexpected | rushed, baffling, lazy
            the visuals* | stunning, breathtaking, gorgeous | =cheap-looking, murky, dull
            the characters* | believable, =well written, lovable | =one-dimensional, unlikeable, bland
        """,
        pos_vps="""
            kept me on the edge of my seat
            made me laugh and cry in the same scene
            had the whole cinema cheering
            stayed with me for days afterwards
            flew by despite the long running time
            {was} the best thing I saw all year
        """,
        neg_vps="""
            put me to sleep halfway through
            felt twice as long as {it} actually was
            wasted a brilliant cast
            made no sense whatsoever
            {was} two hours of my life I will never get back
            had me checking my watch every ten minutes
        """,
        pos_close="""
            Go and see it.
            I'd watch it again tomorrow.
            An instant classic.
            Ten out of ten.
        """,
        neg_close="""
            Skip it.
            Wait for it to be free, or better yet don't.
            What a waste of a ticket.
            Deeply disappointing.
        """,
        compare="""
            the original
            the book
            the director's last film
            anything else out this summer
        """,
        audience="""
            anyone who loves a good thriller
            families
            fans of the book
            anyone who needs a good laugh
        """,
        price_intro="We paid {price} a ticket for {subj}",
        prices="8 10 12 14 16",
    ),
    _domain(
        "tv and games",
        past=False,
        verb="play/playing",
        subjects="""
            this game
            the remaster
            the new RPG
            this puzzle game
            the co-op shooter
            this indie platformer
        """,
        aspects="""
            the graphics* | gorgeous, stunning, crisp | dated, muddy, ugly
            the controls* | tight, responsive, intuitive | sluggish, clunky, unresponsive
            the story | gripping, moving, clever | forgettable, incoherent, thin
            the level design | clever, inventive, varied | repetitive, lazy, confusing
            the load times* | short, =barely noticeable | endless, unbearable, long
            the soundtrack | fantastic, memorable, atmospheric | grating, forgettable, repetitive
            the multiplayer | smooth, fun, addictive | laggy, broken, unplayable
        """,
        pos_vps="""
            ate up my entire weekend
            {has} the best boss fights I've played in years
            run{s} smoothly even on my old console
            reward{s} exploration at every turn
            kept me and my friends laughing all night
            {is} worth every minute of the sixty hours
        """,
        neg_vps="""
            crash{es} every hour or so
            lock{s} half the content behind paywalls
            shipped with game-breaking bugs
            feel{s} like a mobile game with a bigger price tag
            deleted my save file twice
            {is} padded with the same fetch quest over and over
        """,
        pos_close="""
            A must-play.
            Game of the year for me.
            Can't put it down.
            Absolutely worth it.
        """,
        neg_close="""
            Refunded.
            Wait for a patch, or skip it.
            Not worth full price.
            Uninstalled.
        """,
        compare="""
            the original
            the last game in the series
            most big-budget releases
            its competitors
        """,
        audience="""
            anyone who loves a challenge
            families
            fans of the original
            casual players
        """,
        price_intro="Paid {price} for {subj}",
        prices="15 20 30 40 60 70",
    ),
    _domain(
        "restaurants",
        past=True,
        verb="eat at/eating at",
        subjects="""
            this restaurant
            the new ramen bar downtown
            Bella Notte
            the Golden Lantern
            this little bistro
            the place around the corner
            the steakhouse on Main Street
            Casa Peñalver
        """,
        aspects="""
            the food | delicious, fresh, =perfectly seasoned | bland, greasy, cold
            the service | friendly, attentive, quick | slow, rude, careless
            the staff* | welcoming, friendly, attentive | rude, dismissive, =clueless
            the portions* | generous, huge, =just right | tiny, stingy, =laughably small
            the desserts* | heavenly, delicious, =out of this world | stale, =far too sweet, bland
            the prices* | fair, reasonable | outrageous, steep, =way too high
            the atmosphere | cosy, relaxed, lively | noisy, cold, depressing
            the wine list | excellent, thoughtful | overpriced, tiny, dull
            the crème brûlée | silky, perfect | grainy, runny
            the pasta | =perfectly cooked, fresh | soggy, overcooked, bland
            the steak | tender, juicy, =cooked to perfection | tough, overcooked, chewy
        """,
        pos_vps="""
            served the best carbonara I've had outside Italy
            made my birthday dinner feel really special
            had our table ready even though we turned up early
            {has} become our go-to spot for Friday nights
            handled my nut allergy with real care
            brought everything out piping hot and beautifully presented
            never once let our glasses run dry
        """,
        neg_vps="""
            got our order wrong twice
            kept us waiting forty minutes for a table we had booked
            charged us for drinks we never ordered
            served lukewarm soup and stale bread
            {was} so noisy we couldn't hear each other
            forgot our starters completely
            gave my friend food poisoning
        """,
        pos_close="""
            We'll definitely be back.
            Already planning our next visit.
            Book a table, you won't regret it.
            A real gem.
        """,
        neg_close="""
            We won't be back.
            Never again.
            Eat somewhere else.
            What a disappointing evening.
        """,
        compare="""
            the last place we tried
            the old restaurant that used to be here
            places charging twice as much
            anywhere else in town
        """,
        audience="""
            families
            anyone celebrating
            vegetarians
            anyone looking for a date-night spot
        """,
        price_intro="Dinner for two at {subj} came to {price}",
        prices="40 55 60 75 90 120 150",
    ),
    _domain(
        "cafes",
        past=True,
        verb="go to/going to",
        subjects="""
            this café
            the bakery on the high street
            Café Lumière
            the coffee shop near the station
            this little tea room
            the brunch place next to the park
        """,
        aspects="""
            the coffee | rich, smooth, excellent | bitter, burnt, watery
            the pastries* | flaky, fresh, buttery | stale, dry, soggy
            the cake | moist, delicious, =heavenly | dry, stale, =sickly sweet
            the baristas* | friendly, skilled, cheerful | grumpy, rude, slow
            the seating | comfortable, cosy | cramped, uncomfortable
            the café au lait | creamy, perfect | lukewarm, weak
            the croissants* | flaky, buttery, =perfectly golden | stale, doughy, greasy
            the queue | short, =quick-moving | endless, =out the door
        """,
        pos_vps="""
            made the best flat white I've had in years
            had a warm welcome and a corner seat waiting for us
            {has} become my favourite place to work on a Sunday
            sold out of cinnamon buns by ten, and now I know why
            served brunch that kept us full until dinner
        """,
        neg_vps="""
            served my latte lukewarm and my muffin stale
            took twenty minutes to make two coffees
            charged five pounds for a tiny cookie
            had sticky tables and nowhere to sit
            got my order wrong and then argued about it
        """,
        pos_close="""
            My new favourite café.
            Can't wait to go back.
            Lovely spot.
            A hidden gem.
        """,
        neg_close="""
            Won't be back.
            Go elsewhere.
            Not worth the queue.
            Disappointing.
        """,
        compare="""
            the chain down the road
            my usual spot
            most cafés in the city
            the place it replaced
        """,
        audience="""
            remote workers
            anyone with a sweet tooth
            families with small kids
            coffee snobs
        """,
        price_intro="Two coffees and a cake at {subj} came to {price}",
        prices="9 11 12 14 16 18",
    ),
    _domain(
        "hotels",
        past=True,
        verb="stay at/staying at",
        subjects="""
            this hotel
            the Harbour View Inn
            the guesthouse we booked
            Hôtel Belle Époque
            this resort
            the B&B by the lake
        """,
        aspects="""
            the room | spotless, spacious, bright | tiny, grubby, dark
            the staff* | friendly, helpful, welcoming | rude, unhelpful, indifferent
            the bed | comfortable, huge, =heavenly | lumpy, hard, =rock hard
            the breakfast | generous, delicious, fresh | sad, stale, =barely edible
            the location | perfect, central, quiet | noisy, remote, sketchy
            the bathroom | clean, modern, spotless | filthy, mouldy, cramped
            the Wi-Fi | fast, reliable | patchy, useless, slow
            the pool | warm, clean, lovely | freezing, dirty, overcrowded
        """,
        pos_vps="""
            upgraded us to a sea-view room without our asking
            made our anniversary weekend unforgettable
            had the quietest rooms we've ever slept in
            went out of their way to help with every request
            felt like a home away from home
        """,
        neg_vps="""
            lost our booking and then blamed us for it
            gave us a room that smelled of damp
            charged a fortune for parking that was never mentioned
            {was} so noisy we barely slept
            hadn't cleaned the room properly before we arrived
        """,
        pos_close="""
            We'd stay again in a heartbeat.
            Highly recommended.
            Already booked our next stay.
            Couldn't fault it.
        """,
        neg_close="""
            Never again.
            Stay somewhere else.
            Not worth the price.
            Avoid.
        """,
        compare="""
            the chain hotel we stayed at last year
            places charging twice as much
            anywhere else in the area
            the photos online
        """,
        audience="""
            families
            couples
            business travellers
            anyone visiting the old town
        """,
        price_intro="We paid {price} a night at {subj}",
        prices="65 80 95 110 140 180 250",
    ),
    _domain(
        "travel",
        past=True,
        verb="fly with/flying with",
        subjects="""
            this airline
            the budget carrier
            the overnight train
            the coach company
            the ferry
            the airport shuttle
        """,
        aspects="""
            the crew* | friendly, professional, helpful | rude, absent, grumpy
            the seats* | comfortable, roomy | cramped, filthy, =rock hard
            the boarding | quick, organised, smooth | chaotic, slow, disorganised
            the food | decent, tasty, =surprisingly good | inedible, cold, overpriced
            the legroom | generous, ample | nonexistent, miserable
            the check-in | quick, painless, easy | slow, confusing, chaotic
        """,
        pos_vps="""
            got us there twenty minutes early
            handled a delay with real honesty and free snacks
            made a long journey feel short
            kept us informed at every step
            looked after my elderly mother beautifully
        """,
        neg_vps="""
            lost my suitcase and never called back
            cancelled the departure with an hour's notice
            sat us on the tarmac for three hours without water
            charged me to pick my own seat next to my child
            left half the passengers behind at the connection
        """,
        pos_close="""
            Will travel with them again.
            Highly recommended.
            A smooth trip.
            Great value.
        """,
        neg_close="""
            Never flying with them again.
            Avoid.
            A miserable trip.
            Still waiting for a refund.
        """,
        compare="""
            the big national carriers
            the last airline I used
            driving
            the train we usually take
        """,
        audience="""
            families with kids
            nervous flyers
            anyone on a budget
            business travellers
        """,
        price_intro="The ticket with {subj} cost {price}",
        prices="29 49 79 120 199 350",
    ),
    _domain(
        "online shopping",
        past=True,
        verb="order from/ordering from",
        subjects="""
            this shop
            the online store
            the seller
            their delivery service
            the marketplace vendor
        """,
        aspects="""
            the delivery | fast, =right on time, speedy | late, slow, chaotic
            the packaging | careful, secure, =plastic-free | flimsy, =ripped open, excessive
            the website | clear, =easy to use, quick | confusing, buggy, slow
            the returns process | painless, quick, simple | endless, confusing, =a nightmare
            the product description | accurate, honest, detailed | misleading, vague, wrong
            the tracking | accurate, helpful | useless, wrong
        """,
        pos_vps="""
            delivered the next morning, packed with real care
            refunded me within a day, no questions asked
            sent a handwritten thank-you note with the order
            replaced a damaged item before I'd even finished complaining
            kept me updated at every step
        """,
        neg_vps="""
            sent the wrong size and then ignored my emails
            left my parcel in the rain on the doorstep
            took three weeks to deliver a next-day order
            charged me twice and took a month to refund it
            sent something clearly used and passed it off as new
        """,
        pos_close="""
            Will order again.
            Highly recommended.
            Five stars.
            A pleasure to deal with.
        """,
        neg_close="""
            Shop elsewhere.
            Never ordering again.
            Avoid.
            Still waiting for my money.
        """,
        compare="""
            the big online retailers
            the shop I used before
            most sellers
            the high street
        """,
        audience="""
            anyone buying gifts
            busy people
            anyone who hates queues
            first-time buyers
        """,
        price_intro="I spent {price} with {subj}",
        prices="20 35 50 85 120 200",
    ),
    _domain(
        "home services",
        past=True,
        verb="hire/hiring",
        subjects="""
            the plumber
            the cleaning company
            the electrician we hired
            the moving company
            the garage
            the roofer
        """,
        aspects="""
            the quote | fair, clear, honest | vague, inflated, =a joke
            the workmanship | excellent, tidy, careful | sloppy, careless, shoddy
            the communication | clear, prompt, friendly | nonexistent, patchy, poor
            the timekeeping | punctual, reliable | unreliable, terrible, =all over the place
            the final bill | reasonable, fair, =exactly as quoted | outrageous, inflated, =double the quote
            the clean-up | thorough, spotless | nonexistent, lazy
        """,
        pos_vps="""
            showed up on time and explained everything clearly
            fixed the leak in half an hour
            left the place cleaner than they found it
            charged exactly what they quoted
            came out on a Sunday evening at no extra cost
            moved our whole flat without a single scratch
        """,
        neg_vps="""
            turned up three hours late without an apology
            left a mess and a half-finished job
            broke a window and denied it
            charged double what was agreed
            never came back to finish the job
            made the problem worse and billed us for it
        """,
        pos_close="""
            Will use them again.
            Highly recommended.
            Finally, tradespeople you can trust.
            Five stars.
        """,
        neg_close="""
            Avoid.
            Never again.
            Hire someone else.
            A complete cowboy outfit.
        """,
        compare="""
            the last firm we used
            every other quote we got
            the big national chains
            what I expected
        """,
        audience="""
            anyone renovating
            landlords
            elderly neighbours
            first-time buyers
        """,
        price_intro="We paid {price} to {subj}",
        prices="80 120 180 250 400 650",
    ),
    _domain(
        "customer support",
        past=True,
        verb="deal with/dealing with",
        subjects="""
            the support team
            my bank
            the broadband provider
            the insurance company
            the phone company
            the helpline
        """,
        aspects="""
            the wait time | short, reasonable, =barely a minute | endless, ridiculous, =over an hour
            the agent | helpful, patient, knowledgeable | rude, clueless, dismissive
            the follow-up | prompt, thorough | nonexistent, slow
            the chat support | quick, helpful, useful | useless, robotic, slow
            the claims process | simple, fair, quick | endless, confusing, =a nightmare
            the app | clear, reliable, fast | buggy, confusing, slow
        """,
        pos_vps="""
            sorted out my problem in five minutes
            called me back exactly when they said they would
            refunded the fee without any fuss
            stayed on the line until everything worked
            explained everything in plain language
        """,
        neg_vps="""
            kept me on hold for an hour and then hung up
            promised a callback that never came
            transferred me five times without solving anything
            closed my complaint without reading it
            blamed me for their own billing mistake
        """,
        pos_close="""
            Impressed.
            Great service.
            That's how it should be done.
            Very grateful.
        """,
        neg_close="""
            Switching providers.
            Avoid.
            Beyond frustrating.
            Utterly useless.
        """,
        compare="""
            my previous provider
            every other bank I've used
            what I expected
            their competitors
        """,
        audience="""
            anyone switching providers
            small businesses
            older customers
            anyone fed up with call centres
        """,
        price_intro="I pay {price} a month to {subj}",
        prices="15 25 30 45 60",
    ),
    _domain(
        "fitness",
        past=False,
        verb="join/joining",
        subjects="""
            this gym
            the yoga studio
            the climbing centre
            the spin class
            the leisure centre
        """,
        aspects="""
            the equipment | modern, =well maintained, excellent | broken, ancient, filthy
            the instructors* | motivating, knowledgeable, friendly | bored, rude, =absent
            the changing rooms* | clean, spacious | filthy, cramped, freezing
            the classes* | fun, varied, challenging | overcrowded, repetitive, dull
            the opening hours* | flexible, generous | limited, inconvenient
            the membership fee | fair, reasonable | outrageous, steep
        """,
        pos_vps="""
            {has} me looking forward to early mornings
            {has} fixed my posture in a few months
            make{s} beginners feel welcome
            never feel{s} crowded, even at peak times
            {is} spotless every time I go
        """,
        neg_vps="""
            {is} packed every evening with half the machines broken
            charged me for three months after I cancelled
            make{s} cancelling almost impossible
            {has} showers that are always cold
            pressure{s} you into personal training at every visit
        """,
        pos_close="""
            Best decision I made this year.
            Highly recommended.
            Love it.
            Worth the membership.
        """,
        neg_close="""
            Cancelling.
            Avoid.
            Not worth the money.
            Find another gym.
        """,
        compare="""
            my old gym
            the big chains
            anywhere else nearby
            the place across the road
        """,
        audience="""
            beginners
            busy parents
            anyone recovering from an injury
            serious lifters
        """,
        price_intro="I pay {price} a month for {subj}",
        prices="19 25 35 45 60 80",
    ),
    _domain(
        "apps",
        past=False,
        verb="use/using",
        subjects="""
            this app
            the new update
            the photo editor
            the budgeting app
            this password manager
            the language-learning app
        """,
        aspects="""
            the interface | clean, intuitive, elegant | cluttered, confusing, ugly
            the sync | fast, reliable, seamless | unreliable, slow, broken
            the notifications* | helpful, =well timed | constant, spammy, annoying
            the subscription | fair, =good value | overpriced, sneaky, =a rip-off
            the onboarding | quick, friendly, clear | tedious, confusing, endless
            the search | fast, accurate | useless, slow, broken
        """,
        pos_vps="""
            {has} saved me hours every week
            just work{s}, with no ads and no clutter
            sync{s} across all my devices instantly
            finally got me to stick to a budget
            {is} the first app I open every morning
        """,
        neg_vps="""
            crash{es} every time I try to upload a photo
            drain{s} my battery in the background
            lost all my notes after the update
            nag{s} me to subscribe every five minutes
            {is} slower with every single update
        """,
        pos_close="""
            Five stars.
            Worth paying for.
            Essential.
            Can't imagine going without it.
        """,
        neg_close="""
            Uninstalled.
            One star.
            Avoid.
            Cancelled my subscription.
        """,
        compare="""
            the app I used before
            the free alternatives
            the old version
            its competitors
        """,
        audience="""
            freelancers
            students
            anyone learning a language
            small teams
        """,
        price_intro="I pay {price} a year for {subj}",
        prices="10 20 30 40 60",
    ),
]

# ---------------------------------------------------------------------------------------
# Pools shared by all domains.

GEN_POS = _lines("""
    excellent
    fantastic
    superb
    wonderful
    outstanding
    brilliant
    impressive
    terrific
    great
    lovely
    first-rate
    exceptional
    delightful
    top-notch
""")
GEN_NEG = _lines("""
    terrible
    awful
    dreadful
    disappointing
    poor
    mediocre
    abysmal
    shoddy
    subpar
    underwhelming
    frustrating
    appalling
    lousy
    dire
""")
MILD_NEG = _lines("""
    bad
    disappointing
    poor
    awful
    mediocre
""")
INTENS_POS = _lines("""
    really
    genuinely
    incredibly
    surprisingly
    remarkably
    truly
    very
    consistently
    seriously
    quite
""")
INTENS_GEN_POS = ["really", "genuinely", "truly", "absolutely", "simply"]
INTENS_GEN_NEG = ["really", "truly", "absolutely", "just", "frankly"]
INTENS_NEG = _lines("""
    really
    truly
    very
    seriously
    incredibly
    frankly
    downright
    just
    painfully
    pretty
""")
OPENERS = _lines("""
    Honestly,
    To be honest,
    Overall,
    All in all,
    In short,
    Frankly,
    I have to say
    I must say
    Well,
    Simply put,
    Long story short,
""")
POS_CLOSE = _lines("""
    Highly recommended.
    Would recommend.
    Five stars.
    Can't fault it.
    Very happy.
    No regrets.
    Really pleased overall.
    Top marks.
    A real find.
    Thoroughly impressed.
    I'm a fan.
    Couldn't be happier.
""")
NEG_CLOSE = _lines("""
    Avoid.
    Not recommended.
    Very disappointed.
    Save your money.
    What a letdown.
    One star.
    Such a shame.
    Never again.
    Deeply disappointing.
    I expected much better.
    Stay away.
    Big mistake.
""")
CONTRAST_POS_TAIL = _lines("""
    and honestly that's what matters
    so I'm still very happy
    — overall well worth it
    which more than made up for it
    so I'd still recommend it
    — a minor gripe in an otherwise great experience
""")
CONTRAST_NEG_TAIL = _lines("""
    and that ruined it for me
    which spoiled the whole experience
    — a dealbreaker for me
    so I can't recommend it
    and that's what I'll remember
    which made the rest irrelevant
    — a real shame
""")
PRICE_POS_TAIL = _lines("""
    it was worth every cent
    it felt like a bargain
    I'd happily pay it again
    it was money well spent
    I'd have paid double
""")
PRICE_NEG_TAIL = _lines("""
    it wasn't worth half that
    I feel completely ripped off
    I want my money back
    it was a total waste
    I'd have been better off keeping it
""")
AGAIN_POS = _lines("""
    Absolutely, in a heartbeat.
    Without a second thought.
    Yes, and I already have.
    Definitely, and I'd bring friends.
    Yes, no hesitation at all.
""")
AGAIN_NEG = _lines("""
    Not a chance.
    Not in a million years.
    Absolutely not.
    No, and I've told my friends the same.
    Never, not even if it were free.
""")
RATING_POS = ["5/5", "10/10", "Five stars", "Ten out of ten", "4.5/5", "9/10", "A solid 5/5"]
RATING_NEG = ["1/5", "2/10", "One star", "Zero stars if I could", "1 out of 10", "0/5"]
DURATIONS = _lines("""
    Two weeks in
    A month in
    Six months later
    After a year
    Three months on
    After a few weeks
""")
CURRENCIES = ["€", "£", "$"]


# ---------------------------------------------------------------------------------------
# Grammar helpers.


def agree(text: str, plural: bool) -> str:
    """Fill the agreement markers of a verb phrase for a singular or plural subject."""
    forms = {
        "{s}": ("", "s"),
        "{es}": ("", "es"),
        "{is}": ("are", "is"),
        "{was}": ("were", "was"),
        "{has}": ("have", "has"),
        "{it}": ("them", "it"),
    }
    for marker, (many, one) in forms.items():
        text = text.replace(marker, many if plural else one)
    return text


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def be(plural: bool, past: bool, negated: bool = False) -> str:
    word = ("were" if plural else "was") if past else ("are" if plural else "is")
    return word + "n't" if negated else word


class Writer:
    """Renders one review from a domain and a template, with a seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, items):
        return self.rng.choice(items)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- building blocks --

    def subj(self, d: Domain) -> Phrase:
        return self.pick(d.subjects)

    def aspect(self, d: Domain, avoid: Aspect | None = None) -> Aspect:
        choices = [a for a in d.aspects if a is not avoid]
        return self.pick(choices)

    def adj(self, words: list[str], intens: list[str], p_intens: float = 0.45) -> str:
        word = self.pick(words)
        if word.startswith("="):
            return word[1:]
        if self.chance(p_intens):
            return f"{self.pick(intens)} {word}"
        return word

    def pos_adj(self, a: Aspect, generic: float = 0.15) -> str:
        if self.chance(generic):
            return self.adj(GEN_POS, INTENS_GEN_POS, 0.3)
        return self.adj(a.pos, INTENS_POS)

    def neg_adj(self, a: Aspect, generic: float = 0.15) -> str:
        if self.chance(generic):
            return self.adj(GEN_NEG, INTENS_GEN_NEG, 0.3)
        return self.adj(a.neg, INTENS_NEG)

    def gradable(self, words: list[str]) -> str:
        return self.pick([w for w in words if not w.startswith("=")])

    def closer(self, d: Domain, positive: bool, subj: Phrase | None = None) -> str:
        own = d.pos_close if positive else d.neg_close
        shared = POS_CLOSE if positive else NEG_CLOSE
        text = self.pick(own if self.chance(0.5) else shared)
        return agree(text, subj[1] if subj else False)

    def opener(self) -> str:
        return self.pick(OPENERS) + " " if self.chance(0.2) else ""

    def clause(self, a: Aspect, d: Domain, adjective: str) -> str:
        return f"{a.text} {be(a.plural, d.past)} {adjective}"

    def vp(self, d: Domain, s: Phrase, positive: bool) -> str:
        return agree(self.pick(d.pos_vps if positive else d.neg_vps), s[1])

    def price(self, d: Domain) -> str:
        return f"{self.pick(CURRENCIES)}{self.pick(d.prices)}"

    def maybe_close(self, d: Domain, positive: bool, s: Phrase | None, p: float = 0.45) -> str:
        return " " + self.closer(d, positive, s) if self.chance(p) else ""


# Each template returns the review text (before final touches) for one label.
Template = Callable[[Writer, Domain], str]


def t_subject(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    adjective = w.adj(GEN_POS if pos else GEN_NEG, INTENS_GEN_POS if pos else INTENS_GEN_NEG, 0.5)
    a = w.aspect(d)
    extra = w.pos_adj(a) if pos else w.neg_adj(a)
    return (
        f"{w.opener()}{s[0]} {be(s[1], False)} {adjective}: {w.clause(a, d, extra)}."
        + w.maybe_close(d, pos, s, 0.35)
    )


def t_aspect(w: Writer, d: Domain, pos: bool) -> str:
    a = w.aspect(d)
    first = w.pos_adj(a) if pos else w.neg_adj(a)
    text = w.clause(a, d, first)
    if w.chance(0.5):
        b = w.aspect(d, avoid=a)
        second = w.pos_adj(b) if pos else w.neg_adj(b)
        text += f", and {w.clause(b, d, second)}" + (" too" if w.chance(0.4) else "")
    return cap(text) + "." + w.maybe_close(d, pos, None, 0.7)


def t_verb(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    text = f"{w.opener()}{s[0]} {w.vp(d, s, pos)}"
    if w.chance(0.35):
        other = w.vp(d, s, pos)
        if other not in text:
            text += f" and {other}"
    return cap(text) + "." + w.maybe_close(d, pos, s, 0.5)


def t_verb_aspect(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    a = w.aspect(d)
    adjective = w.pos_adj(a) if pos else w.neg_adj(a)
    joiner = w.pick([". ", "; ", " — "]) if w.chance(0.5) else ". Also, "
    second = w.clause(a, d, adjective)
    second = cap(second) if joiner == ". " else second
    return cap(f"{s[0]} {w.vp(d, s, pos)}{joiner}{second}.")


def t_negation_pos(w: Writer, d: Domain) -> str:
    a = w.aspect(d)
    s = w.subj(d)
    n = w.gradable(a.neg + MILD_NEG)
    choices = [
        lambda: f"{cap(a.text)} {be(a.plural, d.past, True)} {n} at all — quite the opposite.",
        lambda: f"{cap(a.text)} {be(a.plural, d.past)} anything but {n}. {w.closer(d, True, s)}",
        lambda: f"Not bad at all: {s[0]} {w.vp(d, s, True)}.",
        lambda: f"I can't think of a single thing wrong with {s[0]}. {w.closer(d, True, s)}",
        lambda: f"No complaints about {a.text} whatsoever. {w.closer(d, True, s)}",
        lambda: (
            f"I never once regretted {d.verb[1]} {s[0]}; {a.text} "
            f"{be(a.plural, d.past)} {w.pos_adj(a)}."
        ),
        lambda: (
            f"I was worried {a.text} would be {n}, but "
            f"{'they were' if a.plural else 'it was'} {w.pos_adj(a)}."
        ),
        lambda: f"Nothing about {s[0]} disappointed me, least of all {a.text}.",
    ]
    return w.pick(choices)()


def t_negation_neg(w: Writer, d: Domain) -> str:
    a = w.aspect(d)
    s = w.subj(d)
    p = w.gradable(a.pos + GEN_POS)
    choices = [
        lambda: f"{cap(a.text)} {be(a.plural, d.past, True)} {p} at all. {w.closer(d, False, s)}",
        lambda: (
            f"{cap(a.text)} {be(a.plural, d.past)} far from {p}, and {s[0]} {w.vp(d, s, False)}."
        ),
        lambda: (
            f"I can't honestly say {s[0]} {be(s[1], d.past)} worth the money. "
            f"{w.closer(d, False, s)}"
        ),
        lambda: f"Nothing about {s[0]} impressed me, least of all {a.text}.",
        lambda: f"I wouldn't call {a.text} {p} by any stretch of the imagination.",
        lambda: (
            f"{cap(a.text)} {be(a.plural, d.past)} hardly {p}, and "
            f"{w.clause(w.aspect(d, avoid=a), d, w.neg_adj(a, 1.0))}."
        ),
        lambda: f"Not once did {s[0]} live up to the hype. {w.closer(d, False, s)}",
        lambda: f"No one could call {a.text} {p}. {w.closer(d, False, s)}",
    ]
    return w.pick(choices)()


def t_contrast_pos(w: Writer, d: Domain) -> str:
    a = w.aspect(d)
    b = w.aspect(d, avoid=a)
    s = w.subj(d)
    choices = [
        lambda: (
            f"{cap(w.clause(a, d, w.neg_adj(a)))}, but {w.clause(b, d, w.pos_adj(b))}, "
            f"{w.pick(CONTRAST_POS_TAIL)}.".replace(", —", " —")
        ),
        lambda: (
            f"{cap(w.clause(a, d, w.neg_adj(a)))}, but {s[0]} {w.vp(d, s, True)}. "
            f"{w.closer(d, True, s)}"
        ),
        lambda: (
            f"Sure, {w.clause(a, d, w.neg_adj(a))}. Still, {w.clause(b, d, w.pos_adj(b))}"
            f" and {s[0]} {w.vp(d, s, True)}."
        ),
        lambda: f"I was sceptical at first, but {s[0]} {w.vp(d, s, True)}.",
        lambda: f"Despite a few flaws, {s[0]} {w.vp(d, s, True)}. {w.closer(d, True, s)}",
        lambda: (
            f"The only downside: {w.clause(a, d, w.neg_adj(a, 0.0))}. Otherwise "
            f"{s[0]} {be(s[1], d.past)} {w.pick(GEN_POS)} and {w.clause(b, d, w.pos_adj(b))}."
        ),
    ]
    return w.pick(choices)()


def t_contrast_neg(w: Writer, d: Domain) -> str:
    a = w.aspect(d)
    b = w.aspect(d, avoid=a)
    s = w.subj(d)
    choices = [
        lambda: (
            f"{cap(w.clause(a, d, w.pos_adj(a)))}, but {w.clause(b, d, w.neg_adj(b))}, "
            f"{w.pick(CONTRAST_NEG_TAIL)}.".replace(", —", " —")
        ),
        lambda: (
            f"{cap(w.clause(a, d, w.pos_adj(a)))}, but {s[0]} {w.vp(d, s, False)}. "
            f"{w.closer(d, False, s)}"
        ),
        lambda: (
            f"{cap(a.text)} {be(a.plural, d.past)} {w.pos_adj(a, 0.0)}, but honestly "
            "that's the only good thing I can say."
        ),
        lambda: (
            f"I really wanted to like {s[0]}, but {'they' if s[1] else 'it'} {w.vp(d, s, False)}."
        ),
        lambda: (
            f"On paper {s[0]} {be(s[1], d.past)} great. In reality {w.clause(b, d, w.neg_adj(b))}."
        ),
        lambda: (
            f"{cap(w.clause(a, d, w.pos_adj(a)))}; shame {w.clause(b, d, w.neg_adj(b))}. "
            f"{w.closer(d, False, s)}"
        ),
    ]
    return w.pick(choices)()


def t_expect(w: Writer, d: Domain, pos: bool) -> str:
    a = w.aspect(d)
    s = w.subj(d)
    if pos:
        start = w.pick(
            [
                f"I didn't expect much from {s[0]}, but",
                f"I went in with low expectations for {s[0]}, and",
                f"I almost didn't bother with {s[0]}, but",
            ]
        )
        return f"{start} {w.clause(a, d, w.pos_adj(a))}. {w.closer(d, True, s)}"
    start = w.pick(
        [
            f"I had high hopes for {s[0]}, but",
            f"After all the glowing reviews of {s[0]},",
            f"I expected so much more from {s[0]};",
        ]
    )
    return f"{start} {w.clause(a, d, w.neg_adj(a))}. {w.closer(d, False, s)}"


def t_compare(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    degree = w.pick(["far", "much", "miles", "so much", "a lot", "way"])
    word = "better" if pos else "worse"
    text = f"{cap(s[0])} {be(s[1], d.past)} {degree} {word} than {w.pick(d.compare)}"
    if w.chance(0.6):
        a = w.aspect(d)
        text += f"; {w.clause(a, d, w.pos_adj(a) if pos else w.neg_adj(a))}"
    return text + "." + w.maybe_close(d, pos, s, 0.4)


def t_not_only(w: Writer, d: Domain, pos: bool) -> str:
    a = w.aspect(d)
    b = w.aspect(d, avoid=a)
    first = w.pos_adj(a) if pos else w.neg_adj(a)
    second = w.pos_adj(b) if pos else w.neg_adj(b)
    tail = w.pick([" as well", " too", ""])
    return (
        f"Not only {be(a.plural, d.past)} {a.text} {first}, but "
        f"{w.clause(b, d, second)}{tail}." + w.maybe_close(d, pos, None, 0.4)
    )


def t_neither(w: Writer, d: Domain) -> str:
    a = w.aspect(d)
    b = w.aspect(d, avoid=a)
    what = w.pick(["anything special", "up to scratch", "worth mentioning", "any good"])
    return f"Neither {a.text} nor {b.text} {be(b.plural, d.past)} {what}. {w.closer(d, False)}"


def t_recommend(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    if pos:
        how = w.pick(["happily", "without hesitation", "wholeheartedly", "definitely"])
        text = f"I would {how} recommend {s[0]} to {w.pick(d.audience)}"
        if w.chance(0.5):
            a = w.aspect(d)
            text += f"; {w.clause(a, d, w.pos_adj(a))}"
        return text + "."
    text = f"I would not recommend {s[0]} to anyone, least of all {w.pick(d.audience)}"
    if w.chance(0.5):
        a = w.aspect(d)
        text += f"; {w.clause(a, d, w.neg_adj(a))}"
    return text + "."


def t_again(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    answer = w.pick(AGAIN_POS if pos else AGAIN_NEG)
    return f"Would I {d.verb[0]} {s[0]} again? {answer}"


def t_rating(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    rating = w.pick(RATING_POS if pos else RATING_NEG)
    sep = w.pick([" — ", ": ", ". "])
    return f"{rating}{sep}{cap(s[0]) if sep != ' — ' else s[0]} {w.vp(d, s, pos)}."


def t_price(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    intro = d.price_intro.format(price=w.price(d), subj=s[0])
    tail = w.pick(PRICE_POS_TAIL if pos else PRICE_NEG_TAIL)
    return f"{cap(intro)} and {tail}." + w.maybe_close(d, pos, s, 0.3)


def t_duration(w: Writer, d: Domain, pos: bool) -> str:
    s = w.subj(d)
    when = w.pick(DURATIONS)
    if pos:
        feeling = w.pick(["I'm still delighted with", "I still love", "I'm still impressed by"])
    else:
        feeling = w.pick(["I already regret", "I deeply regret", "I'm kicking myself for"])
        feeling += f" {d.verb[1]}"
    pronoun = "They" if s[1] else "It"
    return f"{when}, {feeling} {s[0]}. {pronoun} {w.vp(d, s, pos)}."


def _both(fn) -> tuple[Template, Template]:
    return (lambda w, d: fn(w, d, True)), (lambda w, d: fn(w, d, False))


_TEMPLATES = {
    "subject": (_both(t_subject), 6),
    "aspect": (_both(t_aspect), 14),
    "verb": (_both(t_verb), 14),
    "verb_aspect": (_both(t_verb_aspect), 8),
    "expect": (_both(t_expect), 5),
    "compare": (_both(t_compare), 5),
    "not_only": (_both(t_not_only), 4),
    "recommend": (_both(t_recommend), 5),
    "again": (_both(t_again), 3),
    "rating": (_both(t_rating), 4),
    "price": (_both(t_price), 4),
    "duration": (_both(t_duration), 4),
    "negation": ((t_negation_pos, t_negation_neg), 4),
    "contrast": ((t_contrast_pos, t_contrast_neg), 5),
    "neither": ((t_contrast_pos, t_neither), 1),
}


# ---------------------------------------------------------------------------------------
# Hand-written standalone reviews.

HANDWRITTEN_POS = _lines("""
    Not bad at all! The hotel was cheaper than anything else nearby and the beds were surprisingly comfortable.
    I went in expecting a cheesy rom-com and came out genuinely moved. Bring tissues.
    The café on the corner does a flat white that rivals anything I had in Melbourne.
    Our waiter, Zoë, remembered every allergy at the table without writing anything down. Impressive service from start to finish.
    The crème brûlée alone is worth the trip — crackly top, silky custard, not too sweet.
    I was naïve enough to think a €30 kettle couldn't last, yet three years later it still boils perfectly every morning.
    Assembly took twenty minutes, every screw was labelled, and the desk doesn't wobble at all.
    The plumber showed up on time, explained the problem clearly and charged exactly what he quoted.
    My daughter has read this book four times already and keeps quoting it at dinner.
    Quiet, fast and reliable. This dishwasher is everything the old one wasn't.
    The sequel is that rare thing, better than the original: tighter, funnier and far more ambitious.
    I didn't think I'd care about a documentary on bees, but I was hooked from the first minute.
    Battery life is ridiculous in the best way — I charge it on Sundays and forget about it.
    The “quick fix” the support agent suggested actually worked, and she stayed on the line to make sure.
    Honestly the best pizza I’ve had since Naples. Thin crust, proper char, generous toppings.
    The flight was delayed, but the crew kept us informed the whole time and handed out free snacks.
    These boots survived a muddy week in the Highlands and still look brand new.
    The instructor corrected my squat form in the first session and my back pain is finally gone.
    Came for the jalapeño poppers, stayed for the brisket. Easily the best barbecue in town.
    Ordered on Monday night, arrived Tuesday morning, packed with care. Can't ask for more than that.
    The app does one thing, budgeting, and does it beautifully. No ads, no clutter, no nonsense.
    Surprisingly good for a budget phone; the camera handles low light better than my old flagship did.
    A warm, funny and unexpectedly wise novel. I finished it at 2 a.m. and regret nothing.
    The hairdresser actually listened to what I wanted instead of doing her own thing. Finally!
    Cosy rooms, a spotless bathroom and a breakfast buffet with real pastries. We’d stay again.
    I've tried a dozen yoga mats and this is the first one that doesn't slide around on a wooden floor.
    The game's world is so detailed that I keep stopping just to look around.
    Five stars for the bakery: the croissants are flaky, buttery and gone by 9 a.m. for good reason.
    It's not flashy, but this vacuum picks up every bit of dog hair on the first pass.
    The customer service rep didn't read from a script; she actually solved my problem in five minutes.
    What a lovely little B&B — the owners made us feel like part of the family.
    Gave it a chance on a friend's recommendation and it has become my favourite podcast by far.
    The mattress took a week to get used to, but now I sleep through the night for the first time in years.
    Easy to install, easy to use, and the picture quality on this TV is stunning.
    The chef came out to ask how we liked the dish. We loved it, and told him so.
    Couldn't find a single flaw in the rental car; it was clean, new and cheaper than expected.
    Every song on this album grows on you. I had it on repeat all week.
    The museum audio guide was brilliant — informative without ever being boring.
    Ten out of ten, would happily get lost in this bookshop again.
    I expected a tourist trap, yet the tapas were authentic, cheap and delicious.
    The pressure cooker has cut my weeknight cooking time in half. Brilliant purchase.
    The bank's new app is fast and clear, and transfers go through instantly.
    Genuinely helpful staff at the garden centre; they talked me out of buying the wrong plants.
    The train was on time, the seats were comfortable and the Wi-Fi actually worked.
    Bought this drill for one job and ended up using it every weekend. Solid, powerful, well balanced.
    The cinematography alone deserves an award; every frame looks like a painting.
    Fresh pasta, friendly staff and a tiramisù to die for. A perfect date night.
    My cat, who hates everything, loves this bed. That says it all.
    The course was well structured and the teacher answered every question patiently.
    Light, warm and packs down tiny — this jacket has become my go-to for hiking.
    I was dreading the repair bill, but the garage fixed it for less than they quoted.
    Not the cheapest option, but the quality is obvious the moment you hold it.
    The story starts slowly, but stick with it; the last hundred pages are unforgettable.
    Delivery was late, but the furniture itself is gorgeous and sturdy, so I'm not complaining.
    The dentist was gentle and explained everything before she did it. No more dread.
    Smart, funny and never condescending to kids — the whole family enjoyed the show.
    Great value lunch menu: three courses for €18 and every one of them was excellent.
    The tent went up in five minutes and stayed bone dry through a night of heavy rain.
    This keyboard feels fantastic to type on, and the battery lasts for months.
    Our tour guide was knowledgeable, funny and clearly loved her job.
    Honestly can't fault this coffee grinder — consistent grind, easy to clean and quiet enough for early mornings.
    Such a cheerful little café; the owner remembers everyone's order.
    I thought the price was steep until I saw how well it was made. Worth it.
    The sound from these speakers is warm and full, even at low volume.
    Refund processed within a day, no questions asked. That's how it should be done.
    I'm not usually a fan of musicals, but this one won me over completely.
    The spa day was pure bliss: friendly therapists, spotless rooms and lovely tea.
    Short, sweet and beautifully written. A perfect book for a rainy afternoon.
    Fast check-in, a room overlooking the harbour and the quietest night's sleep I've had in ages.
    The soup was piping hot, the bread was fresh, and the bill was tiny.
    This is the first printer I've owned that just works. No drama, no paper jams.
    I never write reviews, but the movers deserve one: careful, quick and nothing broken.
    The pho here is rich and fragrant, and the portions are huge.
    Loved every minute of the concert; the band sounded even better live.
    Simple, honest food at fair prices. It's not fancy, and that's exactly why we keep going back.
    Warning: once you try the cinnamon buns here, the supermarket ones will taste like cardboard.
    My only complaint is that the season ended far too soon.
    The only problem with this book is that it eventually ends.
    Best brunch in the neighbourhood, hands down 🥞 The pancakes are fluffy and the coffee is strong.
    The staff were lovely 😊 and the lemon cake was divine. We'll be back next weekend.
""")

HANDWRITTEN_NEG = _lines("""
    Oh great, another “smart” plug that needs three apps and a prayer to switch on a lamp.
    Wow, a whole forty-five minutes for a sandwich. Truly a world-class operation.
    The food was great but the service ruined it: we were ignored for half an hour and then rushed out.
    Lovely décor, shame about everything else. The steak was grey and the fries were cold.
    The hotel looked nothing like the photos; the “sea view” was a car park with a glimpse of water.
    Paid €120 for these headphones and the left earcup died within a month.
    Customer service kept me on hold for an hour — and then hung up on me.
    I really wanted to love this novel, but the characters are flat and the ending is lazy.
    The charger stopped working after a week. Fantastic quality control, as always.
    Not worth the hype. The burger was dry and the bun fell apart in my hands.
    Two stars, and both are for the actors; the script is a complete mess.
    The app crashes every time I try to upload a photo, and support just sends canned replies.
    We booked a quiet room and got one next to the lift. Sleep was impossible.
    The blender leaks from the base no matter how tightly I screw it on.
    Nobody at the front desk seemed to know anything, and our room wasn't cleaned once in four days.
    The delivery driver left my parcel out in the rain, and the box was soaked through.
    The film has gorgeous visuals, but two and a half hours of nothing happening is too much.
    A naïve plot, wooden acting and a soundtrack that never shuts up.
    The jeans looked great online but the fabric is paper-thin and already torn at the knee.
    Overpriced, underwhelming, and the waiter was rude when we asked for the bill.
    I returned the vacuum after two days; it barely picks up crumbs.
    The train was cancelled without notice and the replacement bus never came.
    The instructions were useless, two screws were missing, and the drawer doesn't close straight.
    They charged me a £40 “admin fee” to change a flight date. Never flying with them again.
    The game is pretty, but it crashes every hour and the controls feel sluggish.
    The coffee tasted burnt and the pastry was obviously yesterday's.
    My order arrived two weeks late and in the wrong colour. Still waiting for a reply.
    The gym is always packed, half the machines are broken, and the showers are cold.
    This phone case cracked the first time I dropped it. That is literally its only job.
    The mechanic kept my car for a week and the rattling noise is still there.
    Cheap-feeling plastic, a wobbly lid and a smell I can't get rid of. Back it goes.
    The second half of the season is a slog; I gave up after episode six.
    Bland curry, soggy rice and a bill that made us wince. Not going back.
    The mattress sagged in the middle within three months and the warranty is a joke.
    Service at the café was friendly, but my latte was lukewarm and the cake was stale.
    The manual is written like a riddle, and the device ignores half of what it says.
    We waited ninety minutes for a table we had reserved. Unacceptable.
    I love the author’s earlier books, which makes this clumsy sequel even more disappointing.
    The cleaners skipped the bathroom entirely and left the kitchen worse than before.
    Loud, cramped and overpriced — the only memorable thing about this bar is the headache.
    Every update makes the app slower and adds another subscription prompt.
    The shoes squeak with every step, and after a week the sole is already peeling off.
    Yeah, sure, I love paying extra for a “premium” seat that doesn't even recline.
    The tour guide read from his phone the entire time and rushed us past everything interesting.
    The printer jams on every other page, and the ink costs more than the printer did.
    Beautiful packaging, disappointing product. The serum did nothing at all for my skin.
    The ending undoes everything the first two hours built up. What a waste.
    Ordered a medium steak and got something closer to an old boot. Not impressed.
    The seller described it as “like new”; it arrived scratched, dented and missing the cable.
    My internet drops out every evening and the provider keeps blaming my router.
    Stale bread, watery soup and a fly in the salad. I can't believe this place has good reviews.
    I expected a relaxing weekend, but the spa was crowded and the pool was freezing.
    The sound on this TV is so weak that I had to buy a soundbar the same day.
    The salon took two hours and I left with a haircut I never asked for.
    The keyboard has a lovely feel, but three keys stopped registering after a month.
    The comedian's set was lazy, recycled and about as funny as a tax return.
    The hotel breakfast was the saddest thing I've seen: powdered eggs and stale croissants.
    Nice idea, poor execution. The smartwatch loses its connection to my phone several times a day.
    They promised a callback within 24 hours. That was three weeks ago.
    The recipes in this cookbook simply do not work; two cakes collapsed in a row.
    A beautiful venue completely let down by a sound system that crackled all night.
    The tent leaked at the seams the first night it rained. Not great halfway up a mountain.
    Honestly, I've had better sushi from a petrol station fridge.
    The plot twists are so predictable that I guessed every one in the first twenty minutes.
    After the “upgrade” the software is slower, uglier and missing features I used daily.
    The kettle's lid won't stay shut and it spits boiling water everywhere.
    The room smelled of smoke even though it was supposedly non-smoking.
    The staff were lovely, but the food was so salty we couldn't finish it — such a shame.
    The course promised hands-on projects, but it's just an hour of slides every week.
    Five minutes into the call the agent transferred me to a queue that nobody answers.
    My pasta was overcooked and my partner's was raw in the middle. Impressive, in a way.
    Thin walls, a noisy fridge and a shower that alternates between scalding and freezing.
    The movie clearly wants to be deep, but it's just slow and self-important.
    I gave this brand a second chance. I won't be giving it a third.
    Fast delivery, but the dress is see-through and the zip broke on the first try.
    Every dish we ordered tasted like it came from the same jar of sauce.
    The drill's battery is dead after ten screws. Useless for anything but hanging a picture.
    Not terrible, just forgettable — I can't remember a single scene a day later.
    Three weeks, no refund and no reply to my emails. Avoid 👎
    Great, my “waterproof” jacket soaked through in a light drizzle. Very reassuring.
""")

# Twenty Chinese reviews, so Unicode handling is exercised end to end.
CHINESE_POS = _lines("""
    这家餐厅的菜很好吃，服务也很周到。
    耳机音质非常好，戴久了耳朵也不疼。
    快递第二天就到了，包装完好无损，很满意。
    这部电影剧情紧凑，演员演技在线，值得一看。
    酒店房间干净整洁，前台的工作人员态度特别好。
    手机电池很耐用，充一次电能用两天。
    咖啡味道浓郁，环境安静，很适合工作。
    这本书写得很有深度，读完收获很大。
    客服回复很快，问题当天就解决了。
    性价比超高，已经推荐给身边的朋友了。
""")
CHINESE_NEG = _lines("""
    等了一个多小时才上菜，而且菜都是凉的。
    质量太差了，用了三天就坏了。
    房间有一股霉味，空调还一直漏水。
    剧情拖沓，看到一半就睡着了。
    客服态度很差，问题到现在都没解决。
    快递员把包裹直接扔在门口，东西都摔坏了。
    价格贵得离谱，味道却很一般。
    说明书写得乱七八糟，根本看不懂。
    衣服洗了一次就严重缩水，再也不买了。
    健身房器材老旧，很多坏了也没人修。
""")


# ---------------------------------------------------------------------------------------
# Assembly.

_CJK = re.compile(r"[\u4e00-\u9fff]")


def word_count(text: str) -> int:
    return len(text.split())


def _key(text: str) -> str:
    """Texts that differ only in case, quotes or punctuation count as duplicates."""
    text = text.lower().replace("’", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"[^\w\s]", "", text).strip()


def _finish(text: str, w: Writer, positive: bool) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = text.replace(" ,", ",").replace(",,", ",").replace("..", ".")
    text = cap(text)
    if positive and text.endswith(".") and w.chance(0.08):
        text = text[:-1] + "!"
    if w.chance(0.15):
        text = text.replace("'", "’")  # typographic apostrophes, as phones type them
    if w.chance(0.03):
        text = text.lower()
    return text


def generate(seed: int = SEED, per_label: int = ROWS_PER_LABEL) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    w = Writer(rng)
    rows: list[tuple[str, str]] = []
    seen: dict[str, str] = {}

    def add(text: str, label: str) -> bool:
        key = _key(text)
        if key in seen:
            return False
        seen[key] = label
        rows.append((text, label))
        return True

    fixed = {
        "positive": HANDWRITTEN_POS + CHINESE_POS,
        "negative": HANDWRITTEN_NEG + CHINESE_NEG,
    }
    for label, texts in fixed.items():
        for text in texts:
            if not add(text, label):
                raise ValueError(f"duplicate hand-written review: {text!r}")

    names = list(_TEMPLATES)
    weights = [_TEMPLATES[n][1] for n in names]
    for label in ("positive", "negative"):
        positive = label == "positive"
        count = len(fixed[label])
        attempts = 0
        while count < per_label:
            attempts += 1
            if attempts > per_label * 200:
                raise RuntimeError(f"could not generate {per_label} distinct {label} reviews")
            domain = rng.choice(DOMAINS)
            name = rng.choices(names, weights)[0]
            template = _TEMPLATES[name][0][0 if positive else 1]
            text = _finish(template(w, domain), w, positive)
            if not MIN_WORDS <= word_count(text) <= MAX_WORDS:
                continue
            if add(text, label):
                count += 1

    rng.shuffle(rows)
    return rows


def write_csv(rows: list[tuple[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="CSV file to write")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--per-label",
        type=int,
        default=ROWS_PER_LABEL,
        help="rows per label (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    rows = generate(args.seed, args.per_label)
    write_csv(rows, args.output)
    print(f"wrote {len(rows)} reviews to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
