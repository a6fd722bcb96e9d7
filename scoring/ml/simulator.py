"""A seeded, reproducible simulator of sales conversations: synthetic training and demo data.

Why a simulator at all: real won/lost sales conversations are scarce and private, and the paper this
project follows (SalesRLAgent) trained on conversations whose labels the generator wrote into the
text. Here the label is NOT written into the text. Each conversation has a hidden buyer state
(need, budget, urgency, trust, fit) that the rep's acts move, the customer's replies reveal it only
noisily, and the outcome is a coin flip from a logistic function of the final state. So a model can
learn real regularities (what the rep does, how the customer reacts) but cannot read the label, and
the guidance policy has something causal to learn (which act, in which situation, raises the odds).

Design constraints that shaped the code:

- reproducible: one numpy Generator per conversation, derived from (seed, index), so a conversation
  is identical whatever else is generated;
- honest labels: when the text states the outcome ("send the contract", "we'll pass") the index of
  that turn is `meta.leak_turn`; otherwise leak_turn == len(turns). About half the conversations
  never state it;
- bounded vocabulary: every distinct turn text gets embedded by a neural model (~2.5 ms each), so the
  texts come from templates with small slot pools (tens of thousands of distinct texts for 100k
  conversations), yet are varied enough that bag-of-words cannot read the outcome;
- pluggable rep behaviour (`RepPolicy`): a policy sees only what a real rep sees (`RepView`), never
  the latent state; `GuidedPolicy` is where learned guidance plugs in.

Plain Python + numpy: no Django, no torch. Run `python -m scoring.ml.simulator --help` for the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import string
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

import numpy as np

SIMULATOR_VERSION = "1"

ACTS: tuple[str, ...] = (
    "discovery_question",
    "value_statement",
    "objection_handling",
    "social_proof",
    "pricing",
    "next_step",
    "small_talk",
    "other",
)
OBJECTION_TYPES: tuple[str, ...] = ("budget", "timing", "competitor", "authority", "need")
# The category of a customer reply as a rep perceives it (RepView.customer_categories).
REPLY_CATEGORIES: tuple[str, ...] = (
    "interest",
    *(f"objection_{kind}" for kind in OBJECTION_TYPES),
    "question_price",
    "question_product",
    "question_process",
    "neutral",
    "stall",
    "buying_signal",
)
# Categories of a customer turn that ends the conversation (no rep decision follows them).
ENDING_CATEGORIES: tuple[str, ...] = ("accept", "commit", "pass", "email", "wrap_up")
LATENT_DIMENSIONS: tuple[str, ...] = ("need", "budget", "urgency", "trust", "fit")
SKILLS: tuple[str, ...] = ("junior", "mid", "senior")
POLICY_NAMES: tuple[str, ...] = ("mixed", "random", "scripted", "skilled")

MIN_TURNS = 3
MAX_TURNS = 30
INBOUND_SHARE = 0.12  # conversations the customer starts ("Hi, I saw your pricing page...")
# 2025-01-06 00:00 UTC, a Monday: default conversations are spread over the following year.
DEFAULT_EPOCH = 1_736_121_600.0


# --------------------------------------------------------------------------------------------------
# Industries: what is sold, how buyers object, what the rep can say. One table per industry keeps the
# vocabulary of each market together; generic phrasing lives in the template tables further down.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """A product as the rep names and prices it.

    `price` is a predicate ("costs $45 per seat per month") so "{Product} {price}." reads naturally;
    `amount` is the bare figure customers quote back in objections; `values` are the product's own
    value points (the industry adds the ones every product shares).
    """

    name: str
    price: str
    amount: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Industry:
    """Everything industry-specific: products, vocabulary, objections and the buyer prior.

    `values` are the value points every product shares (each Product adds its own); `prior` holds the
    mean of each latent dimension (need, budget, urgency, trust, fit) for a buyer in this market;
    `call_share` is the share of conversations held by phone rather than chat.
    """

    key: str
    name: str
    company: str
    org: str
    products: tuple[Product, ...]
    pains: tuple[str, ...]
    values: tuple[str, ...]
    proofs: tuple[str, ...]
    discovery: tuple[str, ...]
    questions: tuple[str, ...]
    competitors: tuple[str, ...]
    approvers: tuple[str, ...]
    next_steps: tuple[str, ...]
    objections: Mapping[str, tuple[str, ...]]
    rebuttals: Mapping[str, tuple[str, ...]]
    sign: tuple[str, ...]
    small_talk: tuple[str, ...]
    prior: tuple[float, float, float, float, float]
    call_share: float


INDUSTRY_LIST: tuple[Industry, ...] = (
    Industry(
        key="saas",
        name="SaaS",
        company="Loopdesk",
        org="team",
        products=(
            Product("Loopdesk CRM Starter", "costs $29 per seat per month", "$29 a seat"),
            Product("Loopdesk CRM Team", "costs $45 per seat per month", "$45 a seat"),
            Product("the Loopdesk Revenue Suite", "is $79 per seat per month", "$79 a seat"),
        ),
        pains=(
            "our reps spend hours logging calls and emails by hand",
            "the Monday forecast is built in spreadsheets",
            "nobody trusts the pipeline numbers",
            "leads fall through the cracks between marketing and sales",
        ),
        values=(
            "logs calls and emails automatically",
            "builds the weekly forecast from deal stages",
            "routes every inbound lead to a rep within minutes",
            "flags stalled deals before they slip",
            "syncs with Outlook and Gmail out of the box",
        ),
        proofs=(
            "a distributor with 40 reps cut forecast prep from three hours to twenty minutes",
            "a fintech team raised its lead response rate by 30 %",
            "a logistics startup moved off spreadsheets in two weeks",
        ),
        discovery=(
            "How are your reps tracking deals today?",
            "What does your weekly forecast process look like?",
            "Which tools does the team live in day to day?",
        ),
        questions=(
            "Does it integrate with Outlook and our phone system?",
            "Can we import our deal history?",
            "How does the mobile app work for reps on the road?",
        ),
        competitors=("Pipelane", "Salesdock", "HubNorth"),
        approvers=("our CFO", "the VP of Sales"),
        next_steps=(
            "a 30-minute demo with your ops lead",
            "a two-week trial with one team",
            "a call to map your custom fields",
        ),
        objections={
            "budget": (
                "At {amount} that's more than we budgeted for software this year.",
                "We're paying a lot less for {competitor} right now.",
            ),
            "timing": (
                "We're in the middle of a reorg, this isn't the quarter for a new CRM.",
                "Let's revisit after our fiscal year closes.",
            ),
            "competitor": (
                "We've already got {competitor} and the team knows it.",
                "{Competitor} does most of this already, honestly.",
            ),
            "authority": (
                "Any new tool has to go through {approver}.",
                "I can't sign off on software spend myself, {approver} decides.",
            ),
            "need": (
                "Our spreadsheets work well enough for a team our size.",
                "I'm not sure we need a full CRM yet.",
            ),
        },
        rebuttals={
            "budget": (
                "On an annual plan the price drops by about 15 %, and most teams save more than that.",
                "We can start small and upgrade only the seats that need forecasting.",
            ),
            "timing": (
                "We handle the migration ourselves, so the team barely notices, even mid-quarter.",
                "If we start the trial now, you'd be live right when the new quarter begins.",
            ),
            "competitor": (
                "Compared with {competitor}, {product} builds the forecast automatically, with no exports.",
                "Several teams switched from {competitor} because of the reporting, and we migrate your "
                "history for free.",
            ),
            "authority": (
                "I can put together a one-page business case for {approver}.",
                "Happy to join a short call with {approver} to answer the finance questions.",
            ),
            "need": (
                "Most teams outgrow spreadsheets around ten reps, and that's when deals start slipping.",
                "Even for small teams, automatic call logging gives each rep back about three hours a week.",
            ),
        },
        sign=(
            "Let's do it. Send over the contract and we'll sign this week.",
            "OK, we're in. Send me the order form and I'll sign today.",
        ),
        small_talk=(
            "How did the quarter close out for the team?",
            "Are you all still remote, or back in the office?",
        ),
        prior=(0.55, 0.5, 0.45, 0.45, 0.55),
        call_share=0.4,
    ),
    Industry(
        key="insurance",
        name="Insurance",
        company="Harborline Insurance",
        org="business",
        products=(
            Product(
                "the Harborline Small Business Package",
                "costs $1,850 a year",
                "$1,850 a year",
                values=(
                    "bundles property and liability into one premium",
                    "includes business interruption cover as standard",
                ),
            ),
            Product(
                "Harborline Cyber Liability",
                "is $95 a month",
                "$95 a month",
                values=(
                    "covers ransomware payments and data-recovery costs",
                    "includes a 24/7 breach response hotline",
                ),
            ),
            Product(
                "Harborline Commercial Auto",
                "runs $2,400 per vehicle per year",
                "$2,400 a vehicle",
                values=(
                    "covers every driver on your team, not just named ones",
                    "includes a rental vehicle while yours is in the shop",
                ),
            ),
        ),
        pains=(
            "our premium went up 30 % at renewal",
            "we found out our old policy didn't cover water damage",
            "the broker takes weeks to answer a claim question",
            "we have no cyber coverage at all",
        ),
        values=(
            "settles most small claims within ten days",
            "lets you file and track claims from your phone",
        ),
        proofs=(
            "a bakery down the road saved $600 a year by bundling its policies",
            "a dental practice had a burst-pipe claim paid in eight days",
            "a family-run retailer switched at renewal and kept the same deductible",
        ),
        discovery=(
            "When does your current policy renew?",
            "What made you start looking at coverage now?",
            "Have you had any claims in the last three years?",
        ),
        questions=(
            "Does that cover flood damage too?",
            "What's the deductible on that?",
            "How does the claims process work?",
        ),
        competitors=("Stateway Mutual", "Crestline Insurance", "our current broker"),
        approvers=("my business partner", "our accountant"),
        next_steps=(
            "a formal quote with your exact limits",
            "a 20-minute coverage review",
            "a call with our claims specialist",
        ),
        objections={
            "budget": (
                "{Amount} is steep for a business our size.",
                "Our current premium is lower than that, even after the increase.",
            ),
            "timing": (
                "Our policy doesn't renew until the autumn, so there's no rush.",
                "Let's talk again closer to renewal.",
            ),
            "competitor": (
                "We've been with {competitor} for ten years.",
                "{Competitor} quoted us something similar last month.",
            ),
            "authority": (
                "I'd have to run this by {approver} first.",
                "{Approver} handles all our insurance decisions.",
            ),
            "need": (
                "We've never had a claim, so I'm not sure we need more coverage.",
                "I think our current policy covers most of this already.",
            ),
        },
        rebuttals={
            "budget": (
                "If we raise the deductible to $2,500, the premium drops by about 12 %.",
                "Paying monthly spreads the premium out with no extra fee.",
            ),
            "timing": (
                "We can lock today's rate and start the policy the day your current one ends.",
                "Starting the quote now avoids the last-minute rush before renewal.",
            ),
            "competitor": (
                "Happy to put our quote side by side with the one from {competitor}, line by line.",
                "Unlike {competitor}, we include business interruption cover as standard.",
            ),
            "authority": (
                "I can send a one-page comparison that {approver} can review in five minutes.",
                "Would it help if I joined a short call with {approver}?",
            ),
            "need": (
                "Most claims we see come from businesses that had never claimed before.",
                "Let's check your current policy together, the gaps are usually in the exclusions.",
            ),
        },
        sign=(
            "Alright, let's bind the policy. Send me the paperwork.",
            "OK, go ahead and issue the policy, I'll sign the application today.",
        ),
        small_talk=("How's business been this season?", "Did the storm last week cause you any trouble?"),
        prior=(0.5, 0.45, 0.4, 0.4, 0.5),
        call_share=0.7,
    ),
    Industry(
        key="real_estate",
        name="Real estate",
        company="Keystone Realty",
        org="family",
        products=(
            Product("the Riverside two-bedroom", "is listed at $415,000", "$415,000"),
            Product("the Maple Street townhouse", "is on the market at $560,000", "$560,000"),
            Product("the Harbor View loft", "is listed at $389,000", "$389,000"),
        ),
        pains=(
            "we've lost out on three offers already",
            "our lease ends in two months",
            "we need more space now that the baby is here",
            "the commute from where we live is killing us",
        ),
        values=(
            "is a ten-minute walk from the train station",
            "has a renovated kitchen and new windows",
            "sits in one of the best school districts in the city",
            "comes with a private parking space",
            "has a monthly HOA fee of only $180",
        ),
        proofs=(
            "a couple bought in the same building last spring and it's already up 6 %",
            "three homes on that street sold within a week this year",
            "a family relocating from Denver closed on a similar home in 30 days",
        ),
        discovery=(
            "What's most important to you in the next place?",
            "Are you already pre-approved for a mortgage?",
            "Which neighborhoods are you looking at?",
        ),
        questions=(
            "How long has it been on the market?",
            "Is the price negotiable?",
            "What are the property taxes like?",
        ),
        competitors=("a place in Oakdale", "the new-build development across town", "a Brightmove listing"),
        approvers=("my partner", "our mortgage advisor"),
        next_steps=(
            "a viewing",
            "a second viewing with your partner",
            "a call with our mortgage advisor",
        ),
        objections={
            "budget": (
                "{Amount} is above what the bank will lend us.",
                "That's more than we wanted to spend, to be honest.",
            ),
            "timing": (
                "We're not in a rush, we could wait for prices to drop.",
                "We can't move before the school year ends.",
            ),
            "competitor": (
                "We're also looking at {competitor}.",
                "Honestly, {competitor} seemed like better value.",
            ),
            "authority": ("I can't decide without {approver}.", "{Approver} needs to see it first."),
            "need": (
                "I'm not sure we need that much space.",
                "Our current place is fine for another year or two.",
            ),
        },
        rebuttals={
            "budget": (
                "The seller has accepted offers about 3 % under asking on similar homes.",
                "With a 10 % deposit, the monthly payment comes close to what you pay in rent.",
            ),
            "timing": (
                "We can negotiate a later closing date so you move when the school year ends.",
                "Good homes in this area rarely wait around, even when rates are stable.",
            ),
            "competitor": (
                "Compared with {competitor}, this one has lower running costs and a shorter commute.",
                "I can pull recent sales near {competitor} so you can compare the price per square foot.",
            ),
            "authority": (
                "Let's book a viewing when {approver} can join.",
                "I can send a short video walkthrough for {approver} tonight.",
            ),
            "need": (
                "The extra room works well as an office, and it keeps the resale value up.",
                "Buyers who wait usually end up paying more for the same space.",
            ),
        },
        sign=(
            "Let's put in an offer at the asking price.",
            "OK, we want it. Let's submit the offer today.",
        ),
        small_talk=(
            "Did you get a chance to walk around the neighborhood?",
            "How's the house hunt treating you so far?",
        ),
        prior=(0.6, 0.45, 0.5, 0.45, 0.45),
        call_share=0.6,
    ),
    Industry(
        key="automotive",
        name="Automotive",
        company="Northgate Motors",
        org="family",
        products=(
            Product(
                "the Aria hybrid SUV",
                "starts at $38,900",
                "$38,900",
                values=(
                    "gets about 48 miles per gallon in city driving",
                    "has adaptive cruise control and lane assist as standard",
                ),
            ),
            Product(
                "the Vento compact",
                "is $24,500 on the road",
                "$24,500",
                values=(
                    "is easy to park and cheap to insure",
                    "gets about 52 miles per gallon on the highway",
                ),
            ),
            Product(
                "a fleet lease on the Cargo Pro van",
                "runs $520 per van per month",
                "$520 a van",
                values=(
                    "carries up to 1.5 tonnes with room for shelving",
                    "includes maintenance and tyres in the monthly price",
                ),
            ),
        ),
        pains=(
            "our current car keeps going back to the shop",
            "we're spending a fortune on fuel",
            "the lease on our old car ends next month",
            "we need more room for the kids and the dog",
        ),
        values=(
            "comes with a five-year bumper-to-bumper warranty",
            "includes free roadside assistance",
        ),
        proofs=(
            "a family in your area traded in a similar car and cut fuel costs by a third",
            "a plumbing company moved its fleet to us and halved its repair bills",
            "owners rate the Aria the most reliable model in its class",
        ),
        discovery=(
            "What are you driving at the moment?",
            "How many miles do you usually put on a car each year?",
            "Will this be mostly city driving or long trips?",
        ),
        questions=(
            "What would you give me for my trade-in?",
            "Is there a test drive available this week?",
            "What financing options do you have?",
        ),
        competitors=("the dealer across town", "Torvik Auto", "a private seller"),
        approvers=("my husband", "our fleet manager"),
        next_steps=("a test drive", "a trade-in appraisal", "a financing pre-check"),
        objections={
            "budget": (
                "{Amount} is more than we planned to spend.",
                "The monthly payment would be too high for us.",
            ),
            "timing": (
                "We were planning to wait for the new model year.",
                "Our current car still has a few months left in it.",
            ),
            "competitor": (
                "{Competitor} offered us a better deal.",
                "I've seen the same model cheaper at {competitor}.",
            ),
            "authority": (
                "I'll need to talk to {approver} before deciding.",
                "{Approver} wants to see the numbers first.",
            ),
            "need": ("I'm not sure we need something that big.", "Our old car still runs, mostly."),
        },
        rebuttals={
            "budget": (
                "With the 0.9 % financing offer, the payment drops to about $410 a month.",
                "Your trade-in could cover most of the down payment.",
            ),
            "timing": (
                "The current model has a $1,500 discount that ends this month.",
                "We can hold it for you for a week with a refundable deposit.",
            ),
            "competitor": (
                "Compare the warranty: ours runs five years, the one from {competitor} only three.",
                "If {competitor} gave you a written offer, bring it in and we'll look at it together.",
            ),
            "authority": (
                "Bring {approver} along for the test drive, we'll have the numbers printed.",
                "I can email {approver} the full breakdown today.",
            ),
            "need": (
                "A test drive usually settles it, most people are surprised how easy it is to park.",
                "With the kids and the dog, the extra space pays off quickly.",
            ),
        },
        sign=(
            "OK, let's do the paperwork. I'll take it.",
            "Deal. Put the deposit down and order it in blue.",
        ),
        small_talk=("Did you find the showroom all right?", "Nice weather for a test drive today, isn't it?"),
        prior=(0.55, 0.45, 0.45, 0.4, 0.5),
        call_share=0.6,
    ),
    Industry(
        key="telecom",
        name="Telecom",
        company="Skyline Telecom",
        org="office",
        products=(
            Product(
                "the Business Fiber 1 Gbps plan",
                "is $149 a month",
                "$149 a month",
                values=(
                    "comes with a 99.9 % uptime guarantee",
                    "includes a 4G backup link if the fiber goes down",
                ),
            ),
            Product(
                "the Unlimited Mobile plan",
                "costs $35 per line per month",
                "$35 a line",
                values=(
                    "gives every line unlimited calls to 40 countries",
                    "includes roaming in Europe and North America",
                ),
            ),
            Product(
                "the Office Phone bundle",
                "is $22 per user per month",
                "$22 a user",
                values=(
                    "rings desk phones and mobiles at the same time",
                    "includes call recording and an auto-attendant",
                ),
            ),
        ),
        pains=(
            "the internet drops out every afternoon",
            "we're paying for lines nobody uses",
            "support takes days to answer",
            "roaming charges eat half the budget",
        ),
        values=(
            "moves your existing numbers over at no charge",
            "comes with a business support line answered in under a minute",
        ),
        proofs=(
            "a law firm on your street switched last year and hasn't had an outage since",
            "a chain of six cafés cut its phone bill by 25 %",
            "a call center moved 80 lines to us over one weekend",
        ),
        discovery=(
            "How many lines are you running right now?",
            "What do you use the connection for day to day?",
            "When does your current contract end?",
        ),
        questions=(
            "Can we keep our current numbers?",
            "What happens if the fiber goes down?",
            "Is there an installation fee?",
        ),
        competitors=("Telvio", "Connectra", "our current provider"),
        approvers=("our office manager", "the owner"),
        next_steps=(
            "a free line audit",
            "a site survey for the fiber install",
            "a call to port your numbers",
        ),
        objections={
            "budget": (
                "{Amount} is more than we pay now.",
                "We can't justify a higher phone bill this year.",
            ),
            "timing": (
                "We're locked into our contract until March.",
                "We're moving offices soon, let's talk after that.",
            ),
            "competitor": (
                "{Competitor} just offered us a discount to stay.",
                "We've had {competitor} for years and it's mostly fine.",
            ),
            "authority": (
                "{Approver} signs all our contracts.",
                "I'd need {approver} to approve any switch.",
            ),
            "need": ("Our current speed is good enough.", "We don't really use the phones that much."),
        },
        rebuttals={
            "budget": (
                "If you drop the unused lines, your total bill actually goes down.",
                "We'll cover up to $500 of your early-termination fee.",
            ),
            "timing": (
                "We can schedule the switch for the day your contract ends, so there's no overlap.",
                "If you're moving, we can install at the new office before you arrive.",
            ),
            "competitor": (
                "Unlike {competitor}, we guarantee the uptime in the contract, with credits if we miss it.",
                "Happy to match the price from {competitor} for the first year.",
            ),
            "authority": (
                "I'll send {approver} a side-by-side comparison today.",
                "Could we set up ten minutes with {approver} this week?",
            ),
            "need": (
                "Most offices don't notice the slowdowns until video calls start freezing.",
                "The backup link alone usually pays for itself the first time the line goes down.",
            ),
        },
        sign=(
            "Fine, let's switch. Send me the contract.",
            "OK, sign us up. Go ahead and schedule the install.",
        ),
        small_talk=("How's the new office working out?", "Busy week over there?"),
        prior=(0.5, 0.5, 0.4, 0.4, 0.5),
        call_share=0.6,
    ),
    Industry(
        key="solar",
        name="Solar energy",
        company="Brightfield Solar",
        org="household",
        products=(
            Product(
                "a 6 kW rooftop system",
                "comes to about $14,200 after the tax credit",
                "$14,200",
                values=(
                    "would cover about 85 % of your electricity use",
                    "pays for itself in roughly seven years",
                ),
            ),
            Product(
                "a 9 kW system with battery storage",
                "is about $24,800 installed",
                "$24,800",
                values=(
                    "keeps your lights on during outages",
                    "covers nearly all your usage, even with an electric car",
                ),
            ),
            Product(
                "our solar lease",
                "runs $89 a month with nothing up front",
                "$89 a month",
                values=(
                    "costs less each month than you pay the utility now",
                    "includes monitoring and repairs for the whole term",
                ),
            ),
        ),
        pains=(
            "our electric bill has gone up every year",
            "we had three power cuts this winter",
            "the summer bills are over $300",
            "we want to do something about our carbon footprint",
        ),
        values=(
            "comes with a 25-year panel warranty",
            "locks in your energy cost while utility rates keep rising",
        ),
        proofs=(
            "a neighbor two streets over cut their bill from $210 to $30 a month",
            "a school in the district went solar last year and saved $40,000",
            "over 300 homes in your county run on our panels",
        ),
        discovery=(
            "What's your average electric bill?",
            "Which way does your roof face?",
            "Do you plan to stay in the house for a while?",
        ),
        questions=(
            "What happens if we sell the house?",
            "How long does installation take?",
            "Does the roof need to be replaced first?",
        ),
        competitors=("SunPeak", "a cheaper installer online", "the utility's green plan"),
        approvers=("my wife", "the HOA"),
        next_steps=(
            "a free roof assessment",
            "a site visit from our engineer",
            "a savings report based on your last 12 bills",
        ),
        objections={
            "budget": ("{Amount} is a lot of money.", "We can't take on another loan right now."),
            "timing": (
                "We'd rather wait until the roof is redone.",
                "Maybe next year, once the tax credit situation is clearer.",
            ),
            "competitor": ("{Competitor} quoted us less.", "We're also talking to {competitor}."),
            "authority": ("We'd need approval from {approver}.", "I can't decide this without {approver}."),
            "need": ("Our bill isn't that high, honestly.", "I'm not sure the savings are worth the hassle."),
        },
        rebuttals={
            "budget": (
                "With the lease there's nothing up front, and the payment is less than your current bill.",
                "The 30 % federal credit comes back in your first tax return.",
            ),
            "timing": (
                "We can coordinate with your roofer and install right after the new roof.",
                "Waiting mostly costs you a year of savings.",
            ),
            "competitor": (
                "Ask {competitor} about the inverter warranty, ours is 25 years, not 10.",
                "Our quote includes permits and monitoring, which {competitor} usually charges extra for.",
            ),
            "authority": (
                "We handle the paperwork for {approver}, including the drawings.",
                "I can come back when {approver} can join and go through the numbers.",
            ),
            "need": (
                "Even at your bill, the system pays for itself well within the warranty.",
                "Rates went up 9 % last year, and solar fixes your cost for the next 25.",
            ),
        },
        sign=(
            "Alright, let's do it. Send the agreement and book the install.",
            "OK, we're going solar. Where do I sign?",
        ),
        small_talk=(
            "Lovely sunny day out there, perfect for a roof check.",
            "How long have you lived in the house?",
        ),
        prior=(0.55, 0.4, 0.35, 0.4, 0.55),
        call_share=0.5,
    ),
    Industry(
        key="recruiting",
        name="Recruiting",
        company="TalentBridge",
        org="company",
        products=(
            Product(
                "our contingency search",
                "is 20 % of first-year salary",
                "20 % of salary",
                values=(
                    "presents a shortlist of vetted candidates within two weeks",
                    "replaces any hire who leaves in the first 90 days for free",
                ),
            ),
            Product(
                "a retained executive search",
                "is a $30,000 flat fee",
                "$30,000",
                values=(
                    "maps the whole market, including people who aren't looking",
                    "comes with a dedicated partner and weekly progress reports",
                ),
            ),
            Product(
                "the TalentBridge job board package",
                "costs $1,200 for ten postings",
                "$1,200",
                values=("posts to 30 job sites with one click", "screens applicants with a short assessment"),
            ),
        ),
        pains=(
            "the role has been open for four months",
            "we keep losing candidates to bigger companies",
            "our hiring managers spend hours on bad interviews",
            "two people quit last quarter and the team is stretched",
        ),
        values=("is backed by ten years of placements in your sector",),
        proofs=(
            "a fintech client filled four senior engineering roles in six weeks",
            "a hospital group cut its time-to-hire from 70 days to 32",
            "a retailer kept 95 % of our placements past the first year",
        ),
        discovery=(
            "Which roles are hardest to fill right now?",
            "How long have the positions been open?",
            "What does your interview process look like today?",
        ),
        questions=(
            "What happens if the hire doesn't work out?",
            "How do you find your candidates?",
            "Do you work exclusively?",
        ),
        competitors=("Hirewell Partners", "LinkedIn ads", "our in-house recruiter"),
        approvers=("our head of HR", "the CEO"),
        next_steps=(
            "a briefing call with the hiring manager",
            "a sample shortlist for one role",
            "a 30-minute intake meeting",
        ),
        objections={
            "budget": (
                "{Amount} is much higher than what we pay other agencies.",
                "We don't have an agency budget this year.",
            ),
            "timing": (
                "We've put hiring on hold until next quarter.",
                "Let's wait until the budget review is done.",
            ),
            "competitor": ("We already work with {competitor}.", "{Competitor} costs us a lot less."),
            "authority": (
                "{Approver} has to approve every agency agreement.",
                "I'd need to get {approver} on board first.",
            ),
            "need": ("We usually fill roles ourselves.", "I think we can manage with referrals for now."),
        },
        rebuttals={
            "budget": (
                "We can lower the fee to 16 % if you give us two roles exclusively.",
                "You only pay when someone starts, so there's no risk up front.",
            ),
            "timing": (
                "We can build the pipeline now so you're ready the day hiring reopens.",
                "Good candidates take four to six weeks to free up, so starting now saves time.",
            ),
            "competitor": (
                "Unlike {competitor}, we replace a hire for free in the first 90 days.",
                "Keep {competitor} for the junior roles and let us take the hard ones.",
            ),
            "authority": (
                "I can send {approver} our terms and a few client references.",
                "Would a quick call with {approver} help?",
            ),
            "need": (
                "Every month the role stays open costs you more than our fee in lost output.",
                "Referrals dry up quickly for senior roles, and that's where we're strongest.",
            ),
        },
        sign=(
            "OK, let's go ahead. Send over the agreement for the two roles.",
            "Fine, you've got the search. I'll sign the terms today.",
        ),
        small_talk=("How's the team holding up with the open roles?", "Busy hiring season for you?"),
        prior=(0.55, 0.45, 0.5, 0.4, 0.5),
        call_share=0.6,
    ),
    Industry(
        key="logistics",
        name="Logistics",
        company="Meridian Freight",
        org="shipper",
        products=(
            Product(
                "our LTL shipping service",
                "runs about $2.10 per mile",
                "$2.10 a mile",
                values=("consolidates your partial loads to cut costs", "delivers 98 % of loads on time"),
            ),
            Product(
                "a dedicated truck contract",
                "is $18,500 a month",
                "$18,500 a month",
                values=(
                    "gives you the same drivers on your routes every week",
                    "guarantees capacity even in peak season",
                ),
            ),
            Product(
                "our warehousing package",
                "costs $14 per pallet per month",
                "$14 a pallet",
                values=(
                    "ships same day for orders placed before 2 p.m.",
                    "has warehouses within a day's drive of most of the country",
                ),
            ),
        ),
        pains=(
            "our current carrier misses one delivery in five",
            "we never know where a shipment is",
            "peak season costs doubled last year",
            "damaged pallets are eating our margins",
        ),
        values=(
            "gives you live tracking on every shipment",
            "comes with one account manager for everything",
        ),
        proofs=(
            "a food distributor cut freight spend by 18 % after consolidating with us",
            "an online retailer moved its fulfillment to us before Black Friday without a missed order",
            "a furniture maker halved its damaged deliveries",
        ),
        discovery=(
            "How many loads do you ship in a typical week?",
            "Which lanes cause you the most trouble?",
            "What happens today when a delivery is late?",
        ),
        questions=(
            "Do you cover cross-border shipments?",
            "What's your claims process for damaged goods?",
            "Can you integrate with our warehouse system?",
        ),
        competitors=("FreightCo", "Roadlink Logistics", "our current carrier"),
        approvers=("our COO", "the procurement team"),
        next_steps=(
            "a trial on two of your lanes",
            "a freight audit of last month's invoices",
            "a site visit at your warehouse",
        ),
        objections={
            "budget": ("{Amount} is above our freight budget.", "Our current rates are lower than that."),
            "timing": (
                "We're in peak season, we can't switch carriers now.",
                "Let's revisit when our contract renews in January.",
            ),
            "competitor": ("{Competitor} has been fine for us so far.", "We just renewed with {competitor}."),
            "authority": (
                "All carrier changes go through {approver}.",
                "{Approver} would need to approve a new vendor.",
            ),
            "need": ("Our volumes are too small for that.", "We handle most of our deliveries in house."),
        },
        rebuttals={
            "budget": (
                "With consolidation, your cost per pallet usually drops even at a higher rate per mile.",
                "We can lock the rate for 12 months so peak surcharges don't hit you.",
            ),
            "timing": (
                "We can start with one lane now and keep your current carrier for the rest during peak.",
                "Onboarding takes a week, so we'd be ready well before January.",
            ),
            "competitor": (
                "Let's compare on-time rates: ours is 98 %, and we share the data every week.",
                "Keep {competitor} as a backup and try us on the lanes that give you trouble.",
            ),
            "authority": (
                "I'll prepare a vendor pack with insurance and references for {approver}.",
                "Can we get 15 minutes with {approver} next week?",
            ),
            "need": (
                "Even at small volumes, consolidation saves most shippers 10 to 15 %.",
                "Shipping in house looks cheap until you count the truck, the driver and the downtime.",
            ),
        },
        sign=(
            "OK, let's move the two lanes to you. Send the rate agreement.",
            "Alright, we'll sign the contract. Send it over.",
        ),
        small_talk=(
            "How's peak season treating the warehouse?",
            "Did the snow last week slow your deliveries?",
        ),
        prior=(0.5, 0.5, 0.45, 0.4, 0.5),
        call_share=0.55,
    ),
    Industry(
        key="banking",
        name="Banking",
        company="Crestmark Bank",
        org="business",
        products=(
            Product(
                "the Business Checking Plus account",
                "costs $25 a month, waived above $10,000",
                "$25 a month",
                values=(
                    "includes unlimited transactions and free wires",
                    "connects directly to your accounting software",
                ),
            ),
            Product(
                "a $250,000 business line of credit",
                "is at prime plus 1.5 %",
                "prime plus 1.5 %",
                values=(
                    "gives you access to funds within 24 hours",
                    "only charges interest on what you draw",
                ),
            ),
            Product(
                "our merchant services package",
                "charges 2.4 % per card transaction",
                "2.4 % a swipe",
                values=(
                    "deposits card payments the next business day",
                    "works with tap, chip and online payments",
                ),
            ),
        ),
        pains=(
            "our bank charges us for every wire",
            "we waited six weeks for a credit decision",
            "cash flow is tight between projects",
            "nobody at our bank knows our business",
        ),
        values=("comes with a dedicated relationship manager",),
        proofs=(
            "a restaurant group saved $4,000 a year in card fees after moving to us",
            "a contractor used our credit line to take on a project twice its usual size",
            "a clinic reconciles its accounts in an hour instead of a day",
        ),
        discovery=(
            "How do you manage cash flow between big payments?",
            "Who do you bank with today, and what's missing?",
            "How many card transactions do you process each month?",
        ),
        questions=(
            "What collateral would you need for the credit line?",
            "How long does the account opening take?",
            "Are there any hidden fees?",
        ),
        competitors=("Unity Federal", "our current bank", "an online lender"),
        approvers=("my business partner", "our accountant"),
        next_steps=(
            "a meeting with your relationship manager",
            "a credit pre-assessment",
            "an account-opening appointment",
        ),
        objections={
            "budget": ("{Amount} seems high for what we get.", "Our current bank charges less in fees."),
            "timing": (
                "We're in the middle of our year-end close.",
                "Changing banks is a big project, maybe next year.",
            ),
            "competitor": (
                "{Competitor} has been with us since day one.",
                "{Competitor} offered us a better rate.",
            ),
            "authority": (
                "I'd need to discuss this with {approver}.",
                "{Approver} handles all our financing decisions.",
            ),
            "need": ("We don't really need credit right now.", "Our current account does the job."),
        },
        rebuttals={
            "budget": (
                "With your balances, the monthly fee would be waived entirely.",
                "We can fix the rate for the first two years.",
            ),
            "timing": (
                "We handle the switch for you, including moving your direct debits.",
                "We can open the account now and move payments over after year-end.",
            ),
            "competitor": (
                "Unlike {competitor}, you'd have one relationship manager who knows your business.",
                "Bring the offer from {competitor} and we'll compare the total cost, fees included.",
            ),
            "authority": (
                "I can walk {approver} through the terms in 20 minutes.",
                "I'll send {approver} a clear summary of fees and rates.",
            ),
            "need": (
                "It's easier to set up credit before you need it than during a crunch.",
                "Most businesses only notice the fees when they add them up over a year.",
            ),
        },
        sign=(
            "OK, let's open the account. Send me the forms.",
            "Fine, we'll take the credit line. Where do I sign?",
        ),
        small_talk=(
            "How's business been since we last spoke?",
            "Is year-end as hectic for you as it is for us?",
        ),
        prior=(0.5, 0.5, 0.35, 0.45, 0.5),
        call_share=0.5,
    ),
    Industry(
        key="healthcare_it",
        name="Healthcare IT",
        company="Clarion Health Systems",
        org="practice",
        products=(
            Product(
                "the Clarion EHR for clinics",
                "is $350 per provider per month",
                "$350 a provider",
                values=(
                    "cuts charting time by about 40 %",
                    "works on tablets so providers chart in the exam room",
                ),
            ),
            Product(
                "our patient scheduling module",
                "costs $120 per location per month",
                "$120 a location",
                values=(
                    "sends automatic reminders that reduce no-shows",
                    "lets patients book and reschedule online",
                ),
            ),
            Product(
                "the revenue cycle service",
                "is 4 % of collections",
                "4 % of collections",
                values=(
                    "catches coding errors before claims go out",
                    "follows up on every denied claim for you",
                ),
            ),
        ),
        pains=(
            "our providers chart until nine at night",
            "claim denials are over 12 %",
            "patients keep missing appointments",
            "our system goes down during clinic hours",
        ),
        values=("is fully HIPAA compliant with audit logs",),
        proofs=(
            "a pediatric practice reduced no-shows from 18 % to 7 %",
            "a group of three clinics collected $200,000 more in the first year",
            "a rural hospital went live in eight weeks",
        ),
        discovery=(
            "Which system are your providers charting in today?",
            "What's your denial rate looking like?",
            "How many locations and providers do you have?",
        ),
        questions=(
            "How long does data migration from our current EHR take?",
            "Is it certified for meaningful use?",
            "Does it integrate with our lab?",
        ),
        competitors=("MedCore", "Epicor Health", "our current EHR vendor"),
        approvers=("our medical director", "the practice owner"),
        next_steps=(
            "a demo for your providers",
            "a workflow review at the clinic",
            "a call with our implementation lead",
        ),
        objections={
            "budget": (
                "{Amount} is more than we can spend right now.",
                "Our reimbursements are down, the budget is tight.",
            ),
            "timing": (
                "We can't switch systems during flu season.",
                "Our current contract runs another year.",
            ),
            "competitor": (
                "We're already invested in {competitor}.",
                "{Competitor} is cheaper and our staff know it.",
            ),
            "authority": ("{Approver} would have to sign off.", "Every IT decision goes through {approver}."),
            "need": (
                "Our current system is fine for a practice our size.",
                "I don't think the providers would use it.",
            ),
        },
        rebuttals={
            "budget": (
                "The drop in denials usually covers the subscription within six months.",
                "We can start with scheduling only and add the EHR later.",
            ),
            "timing": (
                "We go live in phases, so the clinic never stops seeing patients.",
                "We can sign now and schedule go-live after flu season.",
            ),
            "competitor": (
                "Unlike {competitor}, we migrate your records and train your staff at no extra cost.",
                "Practices that switched from {competitor} mostly mention the charting speed.",
            ),
            "authority": (
                "I can arrange a short demo just for {approver}.",
                "Would {approver} like to speak with a medical director at one of our clinics?",
            ),
            "need": (
                "Providers adopt it quickly because charting happens in the exam room.",
                "Even small practices lose a lot to denials, and a quick audit would show how much.",
            ),
        },
        sign=(
            "OK, let's move forward. Send the agreement to our office manager.",
            "We're ready. Send over the contract and we'll schedule go-live.",
        ),
        small_talk=("How's clinic volume been this month?", "Is flu season hitting you hard yet?"),
        prior=(0.55, 0.4, 0.4, 0.4, 0.5),
        call_share=0.5,
    ),
    Industry(
        key="education",
        name="Education",
        company="Brightpath Learning",
        org="school",
        products=(
            Product(
                "the Brightpath LMS",
                "costs $8 per student per year",
                "$8 a student",
                values=(
                    "gives teachers one place for assignments, grades and feedback",
                    "shows which students are falling behind in real time",
                ),
            ),
            Product(
                "our teacher training program",
                "is $4,500 per school",
                "$4,500",
                values=(
                    "comes with 20 hours of hands-on sessions for staff",
                    "includes coaching for teachers during the first term",
                ),
            ),
            Product(
                "the online tutoring add-on",
                "is $15 per student per month",
                "$15 a student",
                values=(
                    "matches students with certified tutors within a day",
                    "reports each student's progress to teachers every week",
                ),
            ),
        ),
        pains=(
            "teachers juggle five different tools",
            "we only find out a student is struggling at report time",
            "parents complain they can't see grades",
            "our current platform is slow on the school laptops",
        ),
        values=("is used by over 900 schools",),
        proofs=(
            "a district of 12 schools raised homework completion by 25 %",
            "a private school cut grading time in half",
            "a community college moved all its courses online in one semester",
        ),
        discovery=(
            "How do teachers hand out and collect assignments today?",
            "How many students and staff would use it?",
            "What does your tech budget cycle look like?",
        ),
        questions=(
            "Does it work with Google Classroom?",
            "How is student data protected?",
            "Can parents get access?",
        ),
        competitors=("ClassNest", "Google Classroom", "our current LMS"),
        approvers=("the school board", "our district IT director"),
        next_steps=(
            "a pilot with two classrooms",
            "a demo for the department heads",
            "a training session for your teachers",
        ),
        objections={
            "budget": (
                "{Amount} won't fit our budget this year.",
                "We rely on grants and the cycle just closed.",
            ),
            "timing": (
                "We can't change platforms mid-semester.",
                "Let's talk again before the next school year.",
            ),
            "competitor": ("Our teachers already use {competitor}.", "{Competitor} costs us nothing."),
            "authority": (
                "{Approver} has to approve any new platform.",
                "I'll need to bring this to {approver}.",
            ),
            "need": (
                "Our teachers are happy with what they have.",
                "We're not sure we need another platform.",
            ),
        },
        rebuttals={
            "budget": (
                "Many schools fund it through the technology grant, and we can help with the application.",
                "We can price the first year per classroom for the pilot.",
            ),
            "timing": (
                "We'd set it up over the summer so teachers start the year ready.",
                "A two-classroom pilot now won't disrupt the semester.",
            ),
            "competitor": (
                "It works alongside {competitor}, so teachers keep what they like.",
                "Compared with {competitor}, you get progress alerts and parent access built in.",
            ),
            "authority": (
                "I can prepare a short presentation for {approver}.",
                "We have data from similar districts that {approver} usually finds useful.",
            ),
            "need": (
                "Most teachers say the real gain is seeing who's falling behind early.",
                "A short pilot is the easiest way to see whether it helps.",
            ),
        },
        sign=(
            "OK, let's do the pilot. Send the agreement.",
            "We're in. Send me the contract for the district.",
        ),
        small_talk=("How's the semester going?", "Are the kids back from the break yet?"),
        prior=(0.5, 0.35, 0.35, 0.45, 0.5),
        call_share=0.5,
    ),
    Industry(
        key="manufacturing",
        name="Manufacturing equipment",
        company="Ironvale Machinery",
        org="plant",
        products=(
            Product(
                "the IV-500 CNC machining center",
                "is $185,000 installed",
                "$185,000",
                values=("runs around the clock with automatic tool changes", "cuts cycle time by about 30 %"),
            ),
            Product(
                "a robotic palletizing cell",
                "runs $240,000",
                "$240,000",
                values=(
                    "stacks up to 20 cases a minute without breaks",
                    "frees two operators per shift for other work",
                ),
            ),
            Product(
                "our preventive maintenance contract",
                "costs $1,900 a month",
                "$1,900 a month",
                values=(
                    "cuts unplanned downtime by about half",
                    "includes quarterly inspections and priority parts",
                ),
            ),
        ),
        pains=(
            "our old machines break down every other week",
            "we can't find enough operators",
            "overtime is killing our margins",
            "scrap rates are over 6 %",
        ),
        values=("comes with on-site service within 24 hours",),
        proofs=(
            "a parts supplier in Ohio paid off its IV-500 in 14 months",
            "a packaging plant cut overtime by 40 % after automating palletizing",
            "a machine shop doubled output without adding a shift",
        ),
        discovery=(
            "What's your current bottleneck on the shop floor?",
            "How many shifts are you running?",
            "How old is the equipment you'd be replacing?",
        ),
        questions=(
            "What's the lead time on delivery?",
            "Do you provide operator training?",
            "What kind of floor and power does it need?",
        ),
        competitors=("Hartmann Tools", "a refurbished machine", "our current supplier"),
        approvers=("the plant manager", "our CFO"),
        next_steps=(
            "a visit to see one running in a nearby plant",
            "a cycle-time study on your parts",
            "an on-site assessment",
        ),
        objections={
            "budget": (
                "{Amount} is a big capital expense for us.",
                "We don't have capex approved for this year.",
            ),
            "timing": (
                "We can't take a line down until the summer shutdown.",
                "Let's revisit after the next budget cycle.",
            ),
            "competitor": ("{Competitor} quoted us less.", "We've always bought from {competitor}."),
            "authority": ("It has to go through {approver}.", "{Approver} makes the call on any capex."),
            "need": ("The old machines still do the job.", "Our volumes don't justify it yet."),
        },
        rebuttals={
            "budget": (
                "With five-year financing, the monthly payment is less than your current overtime.",
                "Section 179 lets you deduct most of the cost this tax year.",
            ),
            "timing": (
                "We'd install during your summer shutdown and have it running by restart.",
                "Lead time is 14 weeks, so ordering now lines up with the shutdown.",
            ),
            "competitor": (
                "Compared with {competitor}, our service is on site in 24 hours, not 72.",
                "Let's run your parts on both machines and compare cycle times.",
            ),
            "authority": (
                "I'll build an ROI sheet for {approver} with your own numbers.",
                "Could we present the payback to {approver} together?",
            ),
            "need": (
                "Every breakdown costs you a day of output, and that adds up fast.",
                "A cycle-time study on your parts would show the payback either way.",
            ),
        },
        sign=(
            "OK, let's place the order. Send the purchase agreement.",
            "Alright, we'll go with it. Send me the PO paperwork.",
        ),
        small_talk=("How's the new shift schedule working out?", "Busy on the floor this week?"),
        prior=(0.5, 0.4, 0.4, 0.4, 0.5),
        call_share=0.6,
    ),
    Industry(
        key="travel",
        name="Travel",
        company="Wayfarer Travel",
        org="group",
        products=(
            Product(
                "our corporate travel program",
                "costs $12 per booking",
                "$12 a booking",
                values=(
                    "books flights, hotels and trains in one place",
                    "keeps everyone in policy automatically",
                ),
            ),
            Product(
                "a seven-night Mediterranean cruise",
                "starts at $1,890 per person",
                "$1,890 a person",
                values=(
                    "includes all meals and five port excursions",
                    "sails from Barcelona with flights included",
                ),
            ),
            Product(
                "the team offsite package in Lisbon",
                "is $2,300 per person, all inclusive",
                "$2,300 a head",
                values=(
                    "includes the venue, hotel and all meals",
                    "comes with a local host on site for the whole stay",
                ),
            ),
        ),
        pains=(
            "people book whatever they like and expenses are a mess",
            "when a flight was cancelled last month nobody could help",
            "planning the offsite is taking up all my time",
            "we pay full price for hotels every time",
        ),
        values=(
            "has 24/7 support if a flight is cancelled",
            "handles visas and travel insurance for you",
        ),
        proofs=(
            "a consulting firm cut travel spend by 14 % in the first year",
            "a software company ran a 200-person offsite with us without a single missed connection",
            "a family we booked last summer is going again this year",
        ),
        discovery=(
            "How many trips does the team take in a month?",
            "Where are you thinking of going?",
            "What went wrong on your last trip?",
        ),
        questions=(
            "What happens if we need to cancel?",
            "Are flights included?",
            "Can we pay in installments?",
        ),
        competitors=("Globetrek", "booking everything online", "our current agency"),
        approvers=("our finance director", "my partner"),
        next_steps=(
            "a call to plan the itinerary",
            "a proposal with three hotel options",
            "a demo of the booking tool",
        ),
        objections={
            "budget": ("{Amount} is more than we planned.", "We can find it cheaper online."),
            "timing": ("We haven't fixed the dates yet.", "Let's wait until closer to the season."),
            "competitor": (
                "{Competitor} offered something similar.",
                "We usually just go with {competitor}.",
            ),
            "authority": ("I'll have to check with {approver}.", "{Approver} has the final say on travel."),
            "need": ("We don't travel that much.", "Honestly, I can book this myself."),
        },
        rebuttals={
            "budget": (
                "Our negotiated rates usually beat online prices once fees are included.",
                "We can hold the price with a 10 % deposit and spread the rest.",
            ),
            "timing": (
                "Early bookings get the best options, and we can hold a few with free cancellation.",
                "Let's lock a flexible rate now and fix the dates later at no cost.",
            ),
            "competitor": (
                "Unlike {competitor}, we rebook you at no charge when something goes wrong.",
                "Send me the quote from {competitor} and I'll check it line by line.",
            ),
            "authority": (
                "I can send {approver} a one-page summary with the total cost.",
                "Happy to walk {approver} through it on a short call.",
            ),
            "need": (
                "The time you save on bookings is usually the biggest win.",
                "When something goes wrong abroad, having someone on call makes the difference.",
            ),
        },
        sign=(
            "Let's book it. Send me the confirmation and the invoice.",
            "OK, we'll go ahead. Send the booking form.",
        ),
        small_talk=("Have you been travelling anywhere nice lately?", "Looking forward to a break soon?"),
        prior=(0.5, 0.45, 0.45, 0.45, 0.5),
        call_share=0.45,
    ),
    Industry(
        key="marketing_agency",
        name="Marketing agency",
        company="Signal & Story",
        org="brand",
        products=(
            Product(
                "a monthly SEO retainer",
                "is $3,500 a month",
                "$3,500 a month",
                values=(
                    "starts with a full audit of your site and competitors",
                    "reports leads and revenue, not just rankings",
                ),
            ),
            Product(
                "a paid social campaign",
                "runs $6,000 a month plus ad spend",
                "$6,000 a month",
                values=(
                    "tests new ads every week to lower your cost per lead",
                    "reports leads and revenue, not just clicks",
                ),
            ),
            Product(
                "a website redesign",
                "is a $24,000 project",
                "$24,000",
                values=(
                    "is built to convert visitors, not just look good",
                    "comes with six months of free updates",
                ),
            ),
        ),
        pains=(
            "we spend on ads but have no idea what works",
            "our website hasn't been updated in five years",
            "leads dried up after the last algorithm change",
            "the last agency sent reports nobody understood",
        ),
        values=("is run by a senior strategist, not a junior",),
        proofs=(
            "a regional gym chain doubled its trial sign-ups in four months",
            "a B2B software client cut its cost per lead by 35 %",
            "a local law firm now gets 60 % of its clients from search",
        ),
        discovery=(
            "Which channels bring you customers today?",
            "What does a new customer cost you right now?",
            "What happened with your last agency?",
        ),
        questions=(
            "How soon would we see results?",
            "Who would actually work on our account?",
            "Do we own the ad accounts?",
        ),
        competitors=("Brightlane Digital", "a freelancer", "our in-house marketer"),
        approvers=("our CEO", "the marketing director"),
        next_steps=(
            "a free audit of your ad accounts",
            "a strategy session with our lead strategist",
            "a 90-day plan",
        ),
        objections={
            "budget": (
                "{Amount} is too much for our marketing budget.",
                "We can't commit to that much before seeing results.",
            ),
            "timing": (
                "We're rebranding, let's wait until that's done.",
                "Our busy season just started, maybe later.",
            ),
            "competitor": ("We're already talking to {competitor}.", "{Competitor} quoted half that."),
            "authority": ("{Approver} has to sign off on agencies.", "I'd need to run it by {approver}."),
            "need": (
                "We get most of our business from referrals.",
                "I'm not sure ads work in our industry.",
            ),
        },
        rebuttals={
            "budget": (
                "We can start with a three-month test at a lower retainer and scale what works.",
                "Most clients cover the retainer from the first few extra leads.",
            ),
            "timing": (
                "We can plan the campaign around the rebrand so it launches with the new look.",
                "Setting up tracking now means you'll have data before the busy season.",
            ),
            "competitor": (
                "Ask {competitor} who works on the account day to day, with us it's a senior strategist.",
                "Compared with {competitor}, you get reporting on revenue, not vanity metrics.",
            ),
            "authority": (
                "I can prepare a short pitch deck for {approver}.",
                "Would {approver} have 20 minutes for the audit results?",
            ),
            "need": (
                "Referrals are great until they slow down, and search gives you a second engine.",
                "The free audit will show whether there's real upside in your market.",
            ),
        },
        sign=(
            "OK, let's start. Send the contract and the onboarding form.",
            "We're in. Send over the agreement for the retainer.",
        ),
        small_talk=("Saw your new post on LinkedIn, nice work.", "How's the busy season treating you?"),
        prior=(0.55, 0.45, 0.4, 0.35, 0.5),
        call_share=0.5,
    ),
    Industry(
        key="cybersecurity",
        name="Cybersecurity",
        company="Sentinel Shield",
        org="company",
        products=(
            Product(
                "the Sentinel managed detection service",
                "is $9 per endpoint per month",
                "$9 an endpoint",
                values=(
                    "monitors your endpoints around the clock with real analysts",
                    "isolates an infected laptop within minutes",
                ),
            ),
            Product(
                "a penetration test",
                "is a $14,000 engagement",
                "$14,000",
                values=(
                    "shows you exactly how an attacker would get in",
                    "comes with a retest after you fix the findings",
                ),
            ),
            Product(
                "our security awareness training",
                "costs $3 per user per month",
                "$3 a user",
                values=(
                    "runs monthly phishing simulations for staff",
                    "takes staff only ten minutes a month",
                ),
            ),
        ),
        pains=(
            "our cyber insurer wants monitoring before renewal",
            "we had a phishing incident last month",
            "IT is one person and they're overwhelmed",
            "we have no idea what's on our network",
        ),
        values=(
            "helps you pass SOC 2 and cyber insurance questionnaires",
            "comes with a clear report for the board",
        ),
        proofs=(
            "a law firm we protect stopped a ransomware attack within eight minutes",
            "a manufacturer passed its SOC 2 audit on the first try",
            "a credit union cut phishing clicks from 22 % to 3 %",
        ),
        discovery=(
            "Who handles security alerts today?",
            "Have you had any incidents in the last year?",
            "What are your insurer or auditors asking for?",
        ),
        questions=(
            "Does it work with our existing antivirus?",
            "What happens when you detect something at 3 a.m.?",
            "How long does deployment take?",
        ),
        competitors=("Fortivue", "CrowdPoint", "our MSP"),
        approvers=("our CIO", "the board"),
        next_steps=(
            "a free external vulnerability scan",
            "a technical deep dive with your IT lead",
            "a two-week proof of concept",
        ),
        objections={
            "budget": (
                "{Amount} isn't in our IT budget.",
                "Security spend is hard to justify to leadership.",
            ),
            "timing": ("We're in the middle of a move to the cloud.", "Let's look at it after the audit."),
            "competitor": ("{Competitor} already covers this for us.", "We're evaluating {competitor} too."),
            "authority": (
                "{Approver} needs to approve security vendors.",
                "I'll need buy-in from {approver}.",
            ),
            "need": ("We're too small to be a target.", "Our antivirus seems to be enough."),
        },
        rebuttals={
            "budget": (
                "It costs less than a single day of downtime after an incident.",
                "Many insurers lower the premium when managed detection is in place.",
            ),
            "timing": (
                "Deployment takes a day and works fine during a migration.",
                "Getting monitoring in before the audit usually makes it much easier.",
            ),
            "competitor": (
                "Ask {competitor} who responds at 3 a.m., for us it's a human analyst within minutes.",
                "We can run alongside {competitor} during a proof of concept and compare.",
            ),
            "authority": (
                "I'll prepare a one-page risk summary for {approver}.",
                "Could we brief {approver} for 15 minutes?",
            ),
            "need": (
                "Most attacks we see target small companies precisely because they're less protected.",
                "Antivirus catches known malware, but most breaches now start with stolen passwords.",
            ),
        },
        sign=(
            "OK, let's sign for the endpoints. Send the agreement.",
            "We'll go ahead. Send over the contract and the deployment plan.",
        ),
        small_talk=(
            "Quieter week on the IT side, I hope?",
            "Did you make it to the security conference last month?",
        ),
        prior=(0.55, 0.45, 0.45, 0.35, 0.5),
        call_share=0.5,
    ),
)
INDUSTRIES: Mapping[str, Industry] = {industry.key: industry for industry in INDUSTRY_LIST}

CUSTOMER_NAMES: tuple[str, ...] = ("Marta", "Priya", "Daniel", "Kenji", "Amara", "Lucas", "Sofia", "Omar")
DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "next week")


# --------------------------------------------------------------------------------------------------
# Generic phrasing. Rep templates depend on the act and the rep's skill (junior reps are blunt and
# product-centred, senior reps tie their point to the buyer); customer templates on the category.
# Slots: {product} {Product} {price} {amount} {Amount} {competitor} {Competitor} {approver}
# {Approver} {org} {company} {name} come from the conversation; {value} {proof} {Proof} {pain}
# {discovery} {question} {next_step} {day} {small_talk} are drawn per turn; {rebuttal} {objection}
# {sign} are chosen by the caller.
# --------------------------------------------------------------------------------------------------

REP_TEMPLATES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "discovery_question": {
        "junior": (
            "{discovery}",
            "Quick question. {discovery}",
            "So, what are you looking for?",
            "Are you the one who decides on this?",
        ),
        "mid": (
            "{discovery}",
            "Tell me a bit about your situation. {discovery}",
            "What made you look into this now?",
            "How are you handling that today?",
        ),
        "senior": (
            "Before I suggest anything, I'd like to understand your setup. {discovery}",
            "So I can recommend the right fit, one question. {discovery}",
            "What would a great outcome look like for you this year?",
            "What have you tried so far, and what didn't work?",
            "If nothing changed in the next six months, what would that cost you?",
        ),
    },
    "value_statement": {
        "junior": (
            "{Product} {value}.",
            "{Product} is really great, it {value}.",
            "Our product is the best on the market. It {value}.",
            "You'll love it. {Product} {value}.",
        ),
        "mid": (
            "{Product} {value}, which usually helps with exactly that.",
            "One thing customers like: {product} {value}.",
            "Also worth knowing: {product} {value}.",
        ),
        "senior": (
            "Based on what you said, the part that matters most is that {product} {value}.",
            "That's exactly where {product} helps: it {value}.",
            "For a {org} like yours, the key point is that {product} {value}.",
            "Given what you described, I'd focus on one thing: {product} {value}.",
        ),
    },
    "objection_handling": {
        "junior": ("{rebuttal}", "I get it, but honestly, {rebuttal}", "Sure. {rebuttal}"),
        "mid": ("I understand. {rebuttal}", "That's a fair point. {rebuttal}", "I hear you. {rebuttal}"),
        "senior": (
            "That makes sense, and you're not the first to raise it. {rebuttal}",
            "Thanks for being upfront about that. {rebuttal} Would that address it?",
            "Totally fair. {rebuttal} Does that change the picture?",
        ),
    },
    "social_proof": {
        "junior": ("{Proof}.", "Lots of people love it. {Proof}.", "{Proof}, so it really works."),
        "mid": ("For example, {proof}.", "Just last quarter, {proof}.", "A similar customer: {proof}."),
        "senior": (
            "A customer in a very similar situation: {proof}.",
            "To give you a concrete example, {proof}. Happy to connect you with them.",
            "You're not alone in this. {Proof}.",
        ),
    },
    "pricing": {
        "junior": (
            "{Product} {price}.",
            "The price is simple: {product} {price}.",
            "Good deal: {product} {price}.",
        ),
        "mid": (
            "{Product} {price}, and that includes setup and support.",
            "In terms of investment, {product} {price}.",
            "Pricing is straightforward. {Product} {price}.",
        ),
        "senior": (
            "Given what we discussed, {product} {price}, and we can tailor the package to what you need.",
            "{Product} {price}. Most customers see the payback within the first year.",
        ),
    },
    "next_step": {
        "junior": (
            "So, do you want to buy?",
            "Can we book {next_step} for {day}?",
            "Shall I send you the contract?",
            "Are you ready to sign up?",
        ),
        "mid": (
            "Could we set up {next_step} for {day}?",
            "Would it make sense to move forward with {next_step}?",
            "What do you think about {next_step} as a next step?",
        ),
        "senior": (
            "Based on all this, the natural next step would be {next_step}. Does {day} work?",
            "How about we book {next_step} for {day}, and you decide after that?",
            "If that all makes sense, I can send the agreement today so we can get started.",
        ),
    },
    "small_talk": {
        "junior": ("So, how's it going?", "Crazy weather lately, right?", "{small_talk}", "Busy day?"),
        "mid": ("How's your week going so far?", "{small_talk}", "Did you have a good weekend?"),
        "senior": (
            "Thanks again for making the time. {small_talk}",
            "{small_talk}",
            "Before we dive in, how are things on your side?",
        ),
    },
    "other": {
        "junior": (
            "Sorry, give me one second, my screen froze.",
            "By the way, we're also hiring, if you know anyone.",
            "Hang on, let me find the brochure.",
        ),
        "mid": (
            "Did you get the brochure I emailed yesterday?",
            "Let me check that with my manager and come back to you.",
        ),
        "senior": ("Let me just pull up my notes from last time.", "I'll make a note of that for our team."),
    },
}
# The rep's first turn of an outbound conversation: a greeting plus a short opener for the act.
GREETINGS: tuple[str, ...] = (
    "Hi {name}, thanks for taking the time.",
    "Hi {name}, this is {company}.",
    "Hello {name}!",
    "Hi {name}, good to connect.",
)
OPENERS: Mapping[str, tuple[str, ...]] = {
    "discovery_question": ("{discovery}", "What made you look into {product}?"),
    "value_statement": ("I'm reaching out because {product} {value}.",),
    "objection_handling": ("I know switching can feel like a hassle, so we do most of the work for you.",),
    "social_proof": ("{Proof}, and I thought you might be interested.",),
    "pricing": ("{Product} {price}, and I wanted to see if that fits.",),
    "next_step": ("Could we book {next_step} for {day}?",),
    "small_talk": ("How's your week going?", "{small_talk}"),
    "other": ("Did you get my email from last week?",),
}
PRICE_ANSWER_PREFIXES: tuple[str, ...] = ("Good question. ", "Sure. ")
PREEMPTIVE_PREFIX = "A lot of people ask about this, so let me mention it: "

CUSTOMER_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "interest_strong": (
        "That's exactly what we need.",
        "That sounds really useful for us.",
        "OK, that's interesting. Tell me more.",
        "That would solve a big problem for us.",
        "I like the sound of that.",
        "Now that is something we'd actually use.",
    ),
    "interest_mild": (
        "That could work for us.",
        "Interesting.",
        "OK, that sounds good.",
        "That might help.",
        "Could be useful, I suppose.",
    ),
    "answer_strong": (
        "Honestly, {pain}.",
        "The big one is that {pain}.",
        "Right now {pain}, and it's getting worse.",
        "To be honest, {pain}, and it's costing us.",
    ),
    "answer_mild": (
        "Well, {pain}, but we manage.",
        "Sometimes {pain}, but it's not a crisis.",
        "I guess {pain}, now and then.",
    ),
    "answer_neutral": (
        "Hard to say. Things are mostly fine, I guess.",
        "Nothing dramatic, really.",
        "I'd rather not get into the details yet.",
    ),
    "answer_evasive": (
        "Let's not go into that right now.",
        "Can we skip ahead? I'm short on time.",
        "That's a bit much to get into today.",
    ),
    "neutral": (
        "OK.",
        "I see.",
        "Got it.",
        "Sure.",
        "Right.",
        "Makes sense.",
        "OK, go on.",
        "Alright.",
        "Hm, OK.",
    ),
    "small_talk_reply": (
        "Good, thanks. Busy as always.",
        "Not bad, thanks for asking.",
        "Oh, you know, the usual.",
        "Pretty hectic, to be honest.",
    ),
    "stall": (
        "Let me think about it.",
        "I'm swamped this week, can we pick this up later?",
        "I'll need some time to look into this.",
        "We have a lot on our plate right now.",
        "Let's not rush this.",
        "I can't commit to anything right now.",
        "We'll see. It's not a priority this month.",
    ),
    "question_price": (
        "What does {product} cost?",
        "How much are we talking about?",
        "What would this cost for a {org} like ours?",
        "Before we go further, what's the price?",
    ),
    "question_product": ("{question}", "How does that work in practice?", "{question}"),
    "question_process": (
        "What does getting started look like?",
        "How long until we'd see results?",
        "Who would we work with on your side?",
        "How much work would this be for us?",
    ),
    "buying_signal": (
        "What would the next steps look like?",
        "How soon could we get started?",
        "Can you send me a proposal?",
        "If we went ahead, when could you start?",
        "What do you need from us to get going?",
        "Could you put together a quote for us?",
        "Is there any discount if we sign this month?",
    ),
    "objection_generic": ("{objection}", "{objection}", "Hmm. {objection}"),
    "objection_repeat": (
        "I hear you, but I'm still not convinced.",
        "That doesn't really answer my concern.",
        "Sorry, but my point still stands.",
    ),
    "inbound": (
        "Hi, I saw {product} on your website and had a few questions.",
        "Hi, I'm {name}. I'm interested in {product}.",
        "Hello, can you tell me more about {product}?",
        "Hi, this is {name}. A colleague recommended you, we're looking at {product}.",
    ),
    # Conversation endings. Only "commit" and "pass" state the outcome (they set meta.leak_turn).
    "commit": ("{sign}", "{sign}", "You've convinced me. {sign}"),
    "pass": (
        "Thanks, but we'll pass.",
        "I don't think this is for us. We'll pass for now.",
        "We've decided not to go ahead. Thanks for your time.",
        "I'm going to stop you there, we're not interested.",
        "We'll stick with what we have. Thanks anyway.",
        "We've decided to go another way. Please take us off your list.",
    ),
    "accept": (
        "OK, let's do that.",
        "Sure, send it over and I'll review it with {approver}.",
        "Sounds good.",
        "Fine, let's take that step and see.",
    ),
    "accept_offer": (
        "Sounds good. Send me a proposal and I'll review it with {approver}.",
        "OK, send me the details in writing and I'll take a look.",
        "Alright, put it in writing and we'll go from there.",
    ),
    "accept_step": ("Sure, {next_step} works for us.", "OK, let's do {next_step}.", "Fine, {day} works."),
    "email": (
        "Just send me something by email and I'll take a look.",
        "Can you email me the details? I have to run.",
        "Send me a brochure and I'll read it when I can.",
        "I have to jump into another meeting. Email me the details?",
    ),
    "wrap_up": (
        "Thanks, let me digest this and get back to you.",
        "OK, I'll talk to the team and let you know.",
        "Good talking to you. I'll be in touch.",
        "Let me review everything and get back to you next week.",
        "Thanks for the information, we'll discuss it internally.",
    ),
}
GENERIC_OBJECTIONS: Mapping[str, tuple[str, ...]] = {
    "budget": (
        "That's more than we'd like to spend.",
        "It's a bit pricey for us.",
        "Money is tight this year.",
    ),
    "timing": ("The timing isn't great for us.", "Now is not a good moment.", "Maybe after the summer."),
    "competitor": (
        "We're happy with what we have.",
        "We're looking at other options too.",
        "Someone else quoted us already.",
    ),
    "authority": (
        "It's not only my decision.",
        "I'd have to get approval for this.",
        "My boss would need to agree.",
    ),
    "need": (
        "I'm not sure we really need this.",
        "I don't see the problem it solves for us.",
        "We're doing fine without it.",
    ),
}
CALL_FILLERS: tuple[str, ...] = ("Yeah, ", "Hmm, ", "Well, ")
REP_SIGN_OFFS: Mapping[str, tuple[str, ...]] = {
    "commit": (
        "Fantastic, thank you! You'll have the paperwork within the hour.",
        "Great decision. I'll get everything set up today.",
    ),
    "accept": ("Great, I'll send the invite right away.", "Perfect, talk then."),
    "pass": (
        "Understood, thanks for your time.",
        "No problem. If anything changes, you know where to find me.",
    ),
    "email": ("Will do, I'll send it over today.", "Sure, you'll have it in your inbox shortly."),
    "wrap_up": ("Sounds good, I'll follow up next week.", "Thanks, talk soon."),
}

# Which latent dimension an objection is about (handling it well raises that dimension).
OBJECTION_DIMENSION: Mapping[str, str] = {
    "budget": "budget",
    "timing": "urgency",
    "competitor": "fit",
    "authority": "trust",
    "need": "need",
}
SKILL_EFFECT: Mapping[str, float] = {"junior": 0.85, "mid": 1.0, "senior": 1.15}
DEFAULT_SKILL_WEIGHTS: tuple[float, float, float] = (0.3, 0.4, 0.3)
# Outcome: P(converted) = sigmoid(OUTCOME_BIAS + sum_k OUTCOME_WEIGHTS[k] * (state_k - 0.5)).
OUTCOME_BIAS = -0.75
OUTCOME_WEIGHTS: tuple[float, float, float, float, float] = (3.0, 2.0, 2.0, 2.5, 2.5)
PRIOR_CONCENTRATION = 9.0  # Beta(mean * c, (1 - mean) * c) per latent dimension
STATE_NOISE = 0.02


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_FORMATTER = string.Formatter()


@cache
def _fields(template: str) -> tuple[str, ...]:
    """Slot names of a template (cached: templates are few, renders are millions)."""
    return tuple(name for _, name, _, _ in _FORMATTER.parse(template) if name)


# --------------------------------------------------------------------------------------------------
# Latent buyer state
# --------------------------------------------------------------------------------------------------


@dataclass
class BuyerState:
    """The buyer's hidden disposition, each in [0, 1]. Never written into a record's meta."""

    need: float
    budget: float
    urgency: float
    trust: float
    fit: float

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.need, self.budget, self.urgency, self.trust, self.fit)

    def readiness(self) -> float:
        """How close the buyer is to yes: drives buying signals, accepted closes and objections."""
        return 0.25 * self.need + 0.15 * self.budget + 0.2 * self.urgency + 0.2 * self.trust + 0.2 * self.fit

    def add(self, name: str, delta: float) -> None:
        setattr(self, name, min(1.0, max(0.0, getattr(self, name) + delta)))

    def conversion_probability(self) -> float:
        """P(converted | final state): uncertain even when the state is known."""
        z = OUTCOME_BIAS + sum(w * (v - 0.5) for w, v in zip(OUTCOME_WEIGHTS, self.as_tuple(), strict=True))
        return _sigmoid(z)


_BETA_PARAMS: Mapping[str, tuple[np.ndarray, np.ndarray]] = {
    industry.key: (
        np.asarray(industry.prior) * PRIOR_CONCENTRATION,
        (1.0 - np.asarray(industry.prior)) * PRIOR_CONCENTRATION,
    )
    for industry in INDUSTRY_LIST
}


def draw_buyer_state(industry: Industry, rng: np.random.Generator) -> BuyerState:
    """A buyer drawn from the industry's prior (Beta around each mean)."""
    alpha, beta = _BETA_PARAMS[industry.key]
    return BuyerState(*rng.beta(alpha, beta).tolist())


# --------------------------------------------------------------------------------------------------
# What the rep sees, and rep policies
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepView:
    """What a real rep can observe before a turn: never the buyer's latent state or the outcome."""

    conversation_id: str
    industry: str
    product: str
    channel: str
    turn_index: int  # index of the turn about to be written
    rep_turn: int  # how many rep turns came before this one
    inbound: bool  # the customer started the conversation
    acts: tuple[str, ...]
    customer_texts: tuple[str, ...]
    customer_categories: tuple[str, ...]
    pending_objection: str | None  # objection type the customer raised and the rep hasn't handled
    # The transcript so far as (speaker, text): what a guidance model reading the conversation sees.
    transcript: tuple[tuple[str, str], ...] = ()

    @property
    def objection_pending(self) -> bool:
        return self.pending_objection is not None

    @property
    def last_category(self) -> str | None:
        return self.customer_categories[-1] if self.customer_categories else None

    def count(self, act: str) -> int:
        return self.acts.count(act)


class RepPolicy(Protocol):
    """Chooses the rep's act for the next rep turn from what the rep can see.

    Optional attributes the simulator reads when present: `name` (recorded as meta.policy) and
    `skill_weights` (probabilities of junior/mid/senior wording for the conversation).
    """

    def choose_act(self, view: RepView, rng: np.random.Generator) -> str: ...


def _policy_name(policy: RepPolicy) -> str:
    return str(getattr(policy, "name", type(policy).__name__))


class RandomPolicy:
    """Any act, uniformly: the floor every learned guidance must beat."""

    name = "random"
    skill_weights = (0.5, 0.35, 0.15)

    def choose_act(self, view: RepView, rng: np.random.Generator) -> str:
        return ACTS[int(rng.random() * len(ACTS))]


DEFAULT_SCRIPTS: tuple[tuple[str, ...], ...] = (
    ("value_statement", "pricing", "next_step"),
    ("small_talk", "value_statement", "social_proof", "pricing", "next_step"),
    ("discovery_question", "value_statement", "pricing", "next_step"),
    ("value_statement", "social_proof", "next_step", "pricing"),
)


class ScriptedPolicy:
    """A rep reading a call script: one fixed sequence per conversation, repeated, deaf to the customer."""

    name = "scripted"
    skill_weights = (0.35, 0.45, 0.2)

    def __init__(self, scripts: Sequence[Sequence[str]] = DEFAULT_SCRIPTS) -> None:
        if not scripts or any(not script or set(script) - set(ACTS) for script in scripts):
            raise ValueError("scripts must be non-empty sequences of acts from ACTS")
        self.scripts = tuple(tuple(script) for script in scripts)
        self._conversation: str | None = None
        self._script: tuple[str, ...] = self.scripts[0]

    def choose_act(self, view: RepView, rng: np.random.Generator) -> str:
        if view.conversation_id != self._conversation or view.rep_turn == 0:
            self._conversation = view.conversation_id
            self._script = self.scripts[int(rng.random() * len(self.scripts))]
        return self._script[view.rep_turn % len(self._script)]


class SkilledPolicy:
    """A sensible heuristic rep: discovery early, handle objections, value before price, close on signals."""

    name = "skilled"
    skill_weights = (0.1, 0.4, 0.5)

    def __init__(self, epsilon: float = 0.08) -> None:
        self.epsilon = epsilon

    def choose_act(self, view: RepView, rng: np.random.Generator) -> str:
        if rng.random() < self.epsilon:  # even good reps improvise
            return ("discovery_question", "value_statement", "social_proof")[int(rng.random() * 3)]
        last = view.last_category
        if view.pending_objection is not None:
            return "objection_handling"
        if view.rep_turn == 0:
            return "small_talk" if not view.inbound and rng.random() < 0.4 else "discovery_question"
        if last == "buying_signal":
            return "pricing" if view.count("pricing") == 0 and rng.random() < 0.4 else "next_step"
        if last == "question_price":
            return "pricing"
        if last in ("question_product", "question_process"):
            return "value_statement"
        discovery = view.count("discovery_question")
        value = view.count("value_statement")
        proof = view.count("social_proof")
        if discovery < 2 and view.rep_turn < 4:
            return "discovery_question"
        if value + proof < 2:
            return "value_statement" if value <= proof else "social_proof"
        if last == "stall":
            return "social_proof" if proof < 2 else "value_statement"
        if view.count("pricing") == 0:
            return "pricing"
        if last == "interest" or (view.rep_turn >= 7 and view.acts[-1] != "next_step"):
            return "next_step"
        return "value_statement" if value <= proof else "social_proof"


class GuidedPolicy:
    """Follows an advisor (e.g. learned guidance); falls back to a fallback policy when it abstains.

    The advisor is a callable `(view) -> act | None`; an act outside ACTS is a bug and raises.
    """

    name = "guided"
    skill_weights = SkilledPolicy.skill_weights

    def __init__(self, advisor: Callable[[RepView], str | None], fallback: RepPolicy | None = None) -> None:
        self.advisor = advisor
        self.fallback: RepPolicy = fallback if fallback is not None else SkilledPolicy()
        self.advised = 0
        self.fallbacks = 0

    def choose_act(self, view: RepView, rng: np.random.Generator) -> str:
        act = self.advisor(view)
        if act is None:
            self.fallbacks += 1
            return self.fallback.choose_act(view, rng)
        if act not in ACTS:
            raise ValueError(f"advisor returned unknown act {act!r}; expected one of {ACTS}")
        self.advised += 1
        return act


class MixedPolicy:
    """A realistic team: per conversation, a random, scripted or skilled rep (weights 0.3/0.3/0.4)."""

    name = "mixed"

    def __init__(self, weights: tuple[float, float, float] = (0.3, 0.3, 0.4)) -> None:
        total = float(sum(weights))
        if len(weights) != 3 or total <= 0 or min(weights) < 0:
            raise ValueError("weights must be three non-negative numbers (random, scripted, skilled)")
        self.cumulative = tuple(float(c) for c in np.cumsum(weights) / total)
        self.policies: tuple[RepPolicy, ...] = (RandomPolicy(), ScriptedPolicy(), SkilledPolicy())
        self._conversation: str | None = None
        self._current: RepPolicy = self.policies[-1]

    @property
    def current_variant(self) -> str:
        """Name of the policy used in the current conversation (recorded as meta.policy_variant)."""
        return _policy_name(self._current)

    @property
    def skill_weights(self) -> tuple[float, float, float]:
        return tuple(getattr(self._current, "skill_weights", DEFAULT_SKILL_WEIGHTS))

    def choose_act(self, view: RepView, rng: np.random.Generator) -> str:
        if view.conversation_id != self._conversation or view.rep_turn == 0:
            self._conversation = view.conversation_id
            u = rng.random()
            self._current = next(
                (p for p, c in zip(self.policies, self.cumulative, strict=True) if u < c), self.policies[-1]
            )
        return self._current.choose_act(view, rng)


def make_policy(name: str) -> RepPolicy:
    """The CLI's policy names to policy objects."""
    policies: dict[str, Callable[[], RepPolicy]] = {
        "mixed": MixedPolicy,
        "random": RandomPolicy,
        "scripted": ScriptedPolicy,
        "skilled": SkilledPolicy,
    }
    if name not in policies:
        raise ValueError(f"unknown policy {name!r}; expected one of {sorted(policies)}")
    return policies[name]()


# --------------------------------------------------------------------------------------------------
# One conversation
# --------------------------------------------------------------------------------------------------


class _Dice:
    """Buffered uniforms and normals from the conversation's Generator (per-call numpy is slow)."""

    __slots__ = ("_normals", "_rng", "_uniforms")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._uniforms: list[float] = []
        self._normals: list[float] = []

    def uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = self._rng.random(128).tolist()
        return self._uniforms.pop()

    def normal(self) -> float:
        if not self._normals:
            self._normals = self._rng.standard_normal(64).tolist()
        return self._normals.pop()

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.uniform() * len(items))]

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def categorical(self, weights: Sequence[float]) -> int:
        total = sum(weights)
        u = self.uniform() * total
        for i, w in enumerate(weights):
            u -= w
            if u < 0:
                return i
        return len(weights) - 1


@dataclass
class _Conversation:
    """Mutable bookkeeping of one simulated conversation (rep side and customer side)."""

    conversation_id: str
    industry: Industry
    product: Product
    channel: str
    skill: str
    inbound: bool
    slots: dict[str, str]
    value_pool: tuple[str, ...]
    state: BuyerState
    dice: _Dice
    max_turns: int
    speakers: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    acts: list[str] = field(default_factory=list)
    customer_texts: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    pending: str | None = None
    pending_age: int = 0
    last_next_step: str | None = None
    last_day: str | None = None

    def view(self) -> RepView:
        return RepView(
            conversation_id=self.conversation_id,
            industry=self.industry.name,
            product=self.product.name,
            channel=self.channel,
            turn_index=len(self.texts),
            rep_turn=len(self.acts),
            inbound=self.inbound,
            acts=tuple(self.acts),
            customer_texts=tuple(self.customer_texts),
            customer_categories=tuple(self.categories),
            pending_objection=self.pending,
            transcript=tuple(zip(self.speakers, self.texts, strict=True)),
        )

    # -- text ---------------------------------------------------------------------------------------

    def render(self, template: str, **given: str) -> str:
        """Fill a template: conversation slots, then caller-given ones, then per-turn draws."""
        values: dict[str, str] = {}
        industry, dice = self.industry, self.dice
        for name in _fields(template):
            if name in given:
                values[name] = given[name]
            elif name in self.slots:
                values[name] = self.slots[name]
            elif name == "value":
                values[name] = dice.pick(self.value_pool)
            elif name in ("proof", "Proof"):
                proof = dice.pick(industry.proofs)
                values[name] = _cap(proof) if name == "Proof" else proof
            elif name == "pain":
                values[name] = dice.pick(industry.pains)
            elif name == "discovery":
                values[name] = dice.pick(industry.discovery)
            elif name == "question":
                values[name] = dice.pick(industry.questions)
            elif name == "small_talk":
                values[name] = dice.pick(industry.small_talk)
            elif name == "next_step":
                values[name] = self.last_next_step = dice.pick(industry.next_steps)
            elif name == "day":
                values[name] = self.last_day = dice.pick(DAYS)
            else:
                raise KeyError(f"template slot {name!r} has no filler")
        return template.format_map(values)

    def rep_text(self, act: str) -> str:
        if not self.acts and not self.inbound:
            greeting = self.render(self.dice.pick(GREETINGS))
            return f"{greeting} {self.render(self.dice.pick(OPENERS[act]))}"
        template = self.dice.pick(REP_TEMPLATES[act][self.skill])
        if act == "objection_handling":
            kind = self.pending if self.pending is not None else self.dice.pick(OBJECTION_TYPES)
            text = self.render(template, rebuttal=self.render(self.dice.pick(self.industry.rebuttals[kind])))
            return text if self.pending is not None else PREEMPTIVE_PREFIX + text
        text = self.render(template)
        if (
            act == "pricing"
            and self.categories
            and self.categories[-1] == "question_price"
            and self.skill != "junior"
        ):
            text = self.dice.pick(PRICE_ANSWER_PREFIXES) + text
        return text

    def customer_text(self, pool: str, **given: str) -> str:
        text = self.render(self.dice.pick(CUSTOMER_TEMPLATES[pool]), **given)
        if pool in _FILLER_POOLS and len(text) > 1 and self.dice.chance(0.3):
            if self.channel == "call":  # spoken: hesitation fillers
                filler = self.dice.pick(CALL_FILLERS)
                text = filler + (text[0].lower() + text[1:] if text[1].islower() else text)
            elif len(text) < 60:  # typed: casual lowercase without the full stop
                text = text.lower().rstrip(".")
        return text

    def objection_text(self, kind: str) -> str:
        if self.dice.chance(0.6):
            return self.render(self.dice.pick(self.industry.objections[kind]))
        return self.customer_text("objection_generic", objection=self.dice.pick(GENERIC_OBJECTIONS[kind]))

    def add(self, speaker: str, text: str) -> None:
        self.speakers.append(speaker)
        self.texts.append(text)


_FILLER_POOLS = frozenset(
    {"interest_strong", "interest_mild", "neutral", "stall", "question_price", "question_process", "wrap_up"}
)


def _apply_act(conv: _Conversation, act: str) -> None:
    """Move the latent state with the rep's act: plausible, state-dependent effects plus noise."""
    s, dice = conv.state, conv.dice
    k = SKILL_EFFECT[conv.skill]
    rep_turn = len(conv.acts)  # acts before this one
    early = rep_turn < 3
    discovery = conv.acts.count("discovery_question")
    shown_value = conv.acts.count("value_statement") + conv.acts.count("social_proof")
    pending = conv.pending
    last = conv.categories[-1] if conv.categories else None

    if act == "discovery_question":
        if discovery < 3:
            s.add("fit", (0.07 if early else 0.035) * k)
            s.add("trust", (0.04 if early else 0.015) * k)
            s.add("need", 0.02 * k)  # saying the pain out loud makes it feel bigger
        else:  # interrogation fatigue
            s.add("urgency", -0.03)
            s.add("trust", -0.015)
    elif act == "value_statement":
        relevance = 0.5 + 0.25 * min(discovery, 2)  # value lands better once the rep knows the pain
        s.add("need", 0.06 * relevance * k * (0.5 + s.fit))
        s.add("urgency", 0.03 * k)
        if conv.acts[-2:] == ["value_statement", "value_statement"]:
            s.add("trust", -0.04)  # monologue
    elif act == "objection_handling":
        if pending is not None:
            s.add(OBJECTION_DIMENSION[pending], 0.10 * k)
            s.add("trust", 0.04 * k)
            conv.pending, conv.pending_age = None, 0
        else:  # arguing against a concern nobody raised
            s.add("trust", -0.03)
            s.add("urgency", -0.01)
    elif act == "social_proof":
        gain = 0.06 if conv.acts.count("social_proof") < 2 else 0.02
        s.add("trust", gain * k * (1.3 - s.trust))
        s.add("fit", 0.02 * k)
    elif act == "pricing":
        if shown_value == 0:  # price before value: the number has nothing to stand against
            s.add("budget", -0.08 if s.budget < 0.5 else -0.02)
            s.add("trust", -0.05 if s.budget < 0.5 else -0.02)
        else:
            if last == "question_price":
                s.add("trust", 0.03)
            s.add("budget", 0.03 if s.budget >= 0.45 else -0.03)
        s.add("urgency", 0.02)
    elif act == "next_step":
        if early or shown_value == 0:  # pushing for the close before earning it
            s.add("trust", -0.08)
            s.add("urgency", -0.02)
        elif last == "buying_signal" or s.readiness() > 0.6:
            s.add("urgency", 0.08 * k)
            s.add("trust", 0.02)
        else:
            s.add("urgency", 0.02)
            s.add("trust", -0.03)
    elif act == "small_talk":
        if rep_turn < 2:
            s.add("trust", 0.05 * k)
        else:  # chit-chat once business has started costs momentum
            s.add("urgency", -0.05)
            s.add("trust", 0.01)
    else:  # "other": tangents and fumbles
        s.add("urgency", -0.02)
        s.add("trust", -0.01)

    if pending is not None and act != "objection_handling":  # an ignored objection festers
        s.add("trust", -0.04)
        s.add(OBJECTION_DIMENSION[pending], -0.03)
        conv.pending_age += 1
        if conv.pending_age >= 2:
            conv.pending, conv.pending_age = None, 0
    if len(conv.texts) > 20:
        s.add("urgency", -0.01)  # long conversations lose steam
    s.need = min(1.0, max(0.0, s.need + STATE_NOISE * dice.normal()))
    s.budget = min(1.0, max(0.0, s.budget + STATE_NOISE * dice.normal()))
    s.urgency = min(1.0, max(0.0, s.urgency + STATE_NOISE * dice.normal()))
    s.trust = min(1.0, max(0.0, s.trust + STATE_NOISE * dice.normal()))
    s.fit = min(1.0, max(0.0, s.fit + STATE_NOISE * dice.normal()))


def _reply_category(conv: _Conversation, act: str) -> str:
    """Sample the customer's reply category: driven by the latent state, but noisily."""
    s, dice = conv.state, conv.dice
    r = s.readiness()
    value_like = act in ("value_statement", "social_proof", "discovery_question")
    repeat = conv.pending is not None and act != "objection_handling"
    logits = (
        0.4 + 2.5 * (s.need - 0.5) + 1.5 * (s.fit - 0.5) + (0.6 if value_like else 0.0),  # interest
        -0.2
        + 3.0 * (0.5 - r)
        + (0.8 if act == "pricing" else 0.0)
        + (0.5 if act == "next_step" else 0.0)
        + (1.0 if repeat else 0.0),  # objection
        (0.5 if act in ("value_statement", "social_proof", "pricing") else 0.0)
        - (0.8 if act == "discovery_question" else 0.0),  # question
        0.0 + (0.6 if act in ("small_talk", "other") else 0.0),  # neutral
        -0.6
        + 2.5 * (0.5 - s.urgency)
        + 1.5 * (0.5 - s.trust)
        + (0.6 if act == "next_step" else 0.0),  # stall
        -1.2 + 6.0 * (r - 0.55) + (0.6 if act in ("pricing", "next_step") and r > 0.55 else 0.0),  # buying
    )
    top = max(logits)
    kind = ("interest", "objection", "question", "neutral", "stall", "buying_signal")[
        dice.categorical([math.exp(x - top) for x in logits])
    ]
    if kind == "objection":
        if repeat and dice.chance(0.6):
            return f"objection_{conv.pending}"
        weights = [
            (1.0 - s.budget) ** 2 * (2.0 if act == "pricing" else 1.0),
            (1.0 - s.urgency) ** 2,
            (1.0 - s.fit) ** 2,
            0.1 + 0.6 * (1.0 - s.trust) ** 2 + (0.3 if act == "next_step" else 0.0),
            (1.0 - s.need) ** 2,
        ]
        return f"objection_{OBJECTION_TYPES[dice.categorical(weights)]}"
    if kind == "question":
        priced = "pricing" in conv.acts
        u = dice.uniform()
        if u < (0.15 if priced else 0.5):
            return "question_price"
        return "question_product" if dice.chance(0.6) else "question_process"
    return kind


def _reply_text(conv: _Conversation, category: str, act: str) -> str:
    """Text for a (non-ending) customer reply; intensity follows the state, noisily."""
    s, dice = conv.state, conv.dice
    if category.startswith("objection_"):
        kind = category.removeprefix("objection_")
        if kind == conv.pending and act != "objection_handling" and dice.chance(0.5):
            return conv.customer_text("objection_repeat")
        return conv.objection_text(kind)
    strong = dice.chance(min(0.95, max(0.05, 1.6 * s.need * s.fit + 0.15 * dice.normal())))
    if act == "discovery_question" and category in ("interest", "neutral", "stall"):
        if category == "stall":
            return conv.customer_text("answer_evasive")
        if category == "neutral":
            return conv.customer_text("answer_mild" if dice.chance(0.5) else "answer_neutral")
        return conv.customer_text("answer_strong" if strong else "answer_mild")
    if category == "interest":
        return conv.customer_text("interest_strong" if strong else "interest_mild")
    if category == "neutral" and act == "small_talk":
        return conv.customer_text("small_talk_reply")
    return conv.customer_text(category)


def _ending(conv: _Conversation, act: str, planned_last: bool) -> str | None:
    """Does the customer's next turn end the conversation, and how? None means it goes on."""
    s, dice = conv.state, conv.dice
    r = s.readiness()
    customer_turns = len(conv.customer_texts)
    if act == "next_step":
        premature = len(conv.acts) <= 3 or not {"value_statement", "social_proof"} & set(conv.acts)
        if dice.chance(_sigmoid(9.0 * (r - 0.58)) * (0.35 if premature else 1.0)):
            return "accept"
    if act in ("pricing", "value_statement", "social_proof", "objection_handling") and dice.chance(
        0.25 * _sigmoid(10.0 * (r - 0.68))
    ):
        return "commit"
    hazard = _sigmoid(-3.6 + 8.0 * (0.38 - s.trust) + 6.0 * (0.4 - s.need) + 3.0 * (0.35 - s.urgency))
    if customer_turns == 0 and not conv.inbound:
        hazard *= 0.3  # cold contacts rarely hang up on the very first line
    if dice.chance(hazard):
        return "exit"
    return "planned" if planned_last else None


def _finish(conv: _Conversation, reason: str) -> tuple[bool, int | None]:
    """Draw the outcome from the final state and write the customer's closing turn.

    Returns (converted, index of the turn that states the outcome or None).
    """
    s, dice = conv.state, conv.dice
    if reason == "accept":  # agreeing to a next step is itself a small commitment
        s.add("urgency", 0.1)
        s.add("trust", 0.05)
    converted = dice.chance(s.conversion_probability())
    stated: int | None = None
    if reason in ("accept", "commit"):
        state_it = converted and dice.chance(0.85 if reason == "accept" else 0.9)
        if state_it:
            category, text = "commit", conv.customer_text("commit", sign=dice.pick(conv.industry.sign))
        elif conv.last_next_step is not None and conv.acts[-1] == "next_step" and dice.chance(0.6):
            category, text = (
                "accept",
                conv.customer_text(
                    "accept_step", next_step=conv.last_next_step, day=conv.last_day or dice.pick(DAYS)
                ),
            )
        elif reason == "commit":
            category, text = "accept", conv.customer_text("accept_offer")
        else:
            category, text = "accept", conv.customer_text("accept")
    elif reason == "exit":
        if not converted and dice.chance(0.75):
            category, text = "pass", conv.customer_text("pass")
        else:
            category, text = "email", conv.customer_text("email")
    else:  # the conversation ran its course
        if dice.chance(0.6):
            if converted:
                category, text = "commit", conv.customer_text("commit", sign=dice.pick(conv.industry.sign))
            else:
                category, text = "pass", conv.customer_text("pass")
        else:
            category, text = "wrap_up", conv.customer_text("wrap_up")
    if category in ("commit", "pass"):
        stated = len(conv.texts)
    conv.add("customer", text)
    conv.customer_texts.append(text)
    conv.categories.append(category)
    if len(conv.texts) < MIN_TURNS or (len(conv.texts) < MAX_TURNS and dice.chance(0.6)):
        conv.acts.append("next_step" if category in ("commit", "accept") else "other")
        conv.add("rep", conv.render(dice.pick(REP_SIGN_OFFS[category])))
    return converted, stated


def _planned_length(dice: _Dice) -> int:
    """Upper bound on the conversation's length; closes and walk-aways end many earlier."""
    u = dice.uniform()
    if u < 0.08:
        return MIN_TURNS + int(dice.uniform() * 4)  # 3-6: quick exchanges
    return min(MAX_TURNS, 7 + int(-math.log(1.0 - dice.uniform()) * 9.0))


def _timestamps(conv: _Conversation, start_ts: float) -> list[str]:
    """Realistic gaps: chats wait for typing (10 s - 1.5 min), calls flow faster (1 - 40 s)."""
    dice, out, ts = conv.dice, [], start_ts
    for i, text in enumerate(conv.texts):
        if i:
            if conv.channel == "call":
                gap = 1.0 + len(text) / 15.0 * (0.7 + 0.6 * dice.uniform()) + 2.0 * dice.uniform()
                ts += min(gap, 40.0)
            else:
                gap = 6.0 + len(text) / 4.0 * (0.6 + 0.8 * dice.uniform()) + 15.0 * dice.uniform()
                ts += min(gap, 90.0)
        out.append(datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds"))
    return out


def resolve_industry(industry: str) -> Industry:
    """An industry by key ("healthcare_it") or display name ("Healthcare IT"), case-insensitive."""
    wanted = industry.strip().lower()
    for candidate in INDUSTRY_LIST:
        if wanted in (candidate.key, candidate.name.lower()):
            return candidate
    raise ValueError(f"unknown industry {industry!r}; expected one of {[i.key for i in INDUSTRY_LIST]}")


def simulate_conversation(
    rng: np.random.Generator,
    *,
    conversation_id: str,
    policy: RepPolicy,
    industry: str | None = None,
    start_ts: float | None = None,
) -> dict[str, Any]:
    """Simulate one conversation and return it as a JSONL record (see the module docstring)."""
    dice = _Dice(rng)
    ind = resolve_industry(industry) if industry is not None else dice.pick(INDUSTRY_LIST)
    product = dice.pick(ind.products)
    channel = "call" if dice.chance(ind.call_share) else "chat"
    competitor, approver = dice.pick(ind.competitors), dice.pick(ind.approvers)
    slots = {
        "product": product.name,
        "Product": _cap(product.name),
        "price": product.price,
        "amount": product.amount,
        "Amount": _cap(product.amount),
        "competitor": competitor,
        "Competitor": _cap(competitor),
        "approver": approver,
        "Approver": _cap(approver),
        "org": ind.org,
        "company": ind.company,
        "name": dice.pick(CUSTOMER_NAMES),
    }
    state = draw_buyer_state(ind, rng)
    inbound = dice.chance(INBOUND_SHARE)
    if start_ts is None:
        start_ts = (
            DEFAULT_EPOCH + int(dice.uniform() * 365) * 86_400.0 + 3600.0 * (8.0 + 10.0 * dice.uniform())
        )
    conv = _Conversation(
        conversation_id=conversation_id,
        industry=ind,
        product=product,
        channel=channel,
        skill="mid",
        inbound=inbound,
        slots=slots,
        value_pool=ind.values + product.values,
        state=state,
        dice=dice,
        max_turns=_planned_length(dice),
    )
    if inbound:  # they came to us: a real need, some urgency already
        state.add("need", 0.1)
        state.add("urgency", 0.1)
        text = conv.customer_text("inbound")
        conv.add("customer", text)
        conv.customer_texts.append(text)
        conv.categories.append("interest")

    converted: bool | None = None
    stated: int | None = None
    while len(conv.texts) < conv.max_turns:
        act = policy.choose_act(conv.view(), rng)
        if act not in ACTS:
            raise ValueError(f"policy {_policy_name(policy)} chose unknown act {act!r}")
        if not conv.acts:  # the rep's wording skill goes with the rep who turned up
            weights = getattr(policy, "skill_weights", DEFAULT_SKILL_WEIGHTS)
            conv.skill = SKILLS[dice.categorical(weights)]
        text = conv.rep_text(act)
        _apply_act(conv, act)
        conv.acts.append(act)
        conv.add("rep", text)
        if len(conv.texts) >= conv.max_turns:
            if conv.max_turns >= MAX_TURNS or dice.chance(0.5):
                break  # the transcript simply stops after the rep's last line
            conv.max_turns += 1  # or the customer gets the final word
        ending = _ending(conv, act, planned_last=len(conv.texts) + 1 >= conv.max_turns)
        if ending is not None:
            converted, stated = _finish(conv, ending)
            break
        category = _reply_category(conv, act)
        text = _reply_text(conv, category, act)
        if category.startswith("objection_"):
            kind = category.removeprefix("objection_")
            if kind != conv.pending:
                conv.pending, conv.pending_age = kind, 0
        conv.add("customer", text)
        conv.customer_texts.append(text)
        conv.categories.append(category)
    if converted is None:
        converted = dice.chance(state.conversion_probability())

    meta: dict[str, Any] = {
        "source": "simulator",
        "simulator_version": SIMULATOR_VERSION,
        "industry": ind.name,
        "product": product.name,
        "channel": channel,
        "policy": _policy_name(policy),
    }
    variant = getattr(policy, "current_variant", None)
    if variant is not None:
        meta["policy_variant"] = variant
    meta["rep_acts"] = list(conv.acts)
    meta["leak_turn"] = stated if stated is not None else len(conv.texts)
    timestamps = _timestamps(conv, start_ts)
    return {
        "id": conversation_id,
        "turns": [
            {"speaker": speaker, "text": text, "ts": ts}
            for speaker, text, ts in zip(conv.speakers, conv.texts, timestamps, strict=True)
        ],
        "converted": bool(converted),
        "meta": meta,
    }


def simulate(
    n: int, *, seed: int, policy: RepPolicy | None = None, industry: str | None = None
) -> Iterator[dict[str, Any]]:
    """Yield n conversations with ids `sim-<seed>-<i>`; the same seed always gives the same records.

    Conversation i uses its own Generator seeded with (seed, i), so it does not depend on n.
    """
    policy = policy if policy is not None else MixedPolicy()
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        yield simulate_conversation(rng, conversation_id=f"sim-{seed}-{i}", policy=policy, industry=industry)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scoring.ml.simulator",
        description=(
            "Generate reproducible synthetic sales conversations (JSONL, one conversation per line) from a "
            "latent-buyer simulator. The outcome is drawn from the hidden final buyer state, never written "
            "into the text before meta.leak_turn. Prints a one-line summary when done."
        ),
    )
    parser.add_argument(
        "--conversations", type=int, default=1000, metavar="N", help="how many (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same file (default 0)")
    parser.add_argument(
        "--policy",
        choices=POLICY_NAMES,
        default="mixed",
        help="rep behaviour: mixed (30%% random, 30%% scripted, 40%% skilled reps; default), random, "
        "scripted or skilled",
    )
    parser.add_argument(
        "--industry",
        choices=[i.key for i in INDUSTRY_LIST],
        default=None,
        help="restrict to one industry (default: all 15, uniformly)",
    )
    parser.add_argument("--out", required=True, help="output JSONL path ('-' for stdout)")
    parser.add_argument(
        "--rewrite-with-llm",
        metavar="MODEL",
        default=None,
        help="rewrite each conversation's wording with this chat model (OpenAI or Azure OpenAI deployment; "
        "needs OPENAI_API_KEY, or AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY). Speakers, acts, outcome "
        "and leak_turn are kept.",
    )
    parser.add_argument(
        "--llm-concurrency", type=int, default=4, metavar="K", help="parallel LLM requests (default 4)"
    )
    parser.add_argument(
        "--llm-max-retries", type=int, default=2, metavar="R", help="retries per LLM request (default 2)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _rewritten(
    records: Iterator[dict[str, Any]], rewrite: Callable[[dict[str, Any]], dict[str, Any]], workers: int
) -> Iterator[dict[str, Any]]:
    """Rewrite records with a few requests in flight, in order, without reading the whole stream ahead."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) >= 8 * workers:
                yield from pool.map(rewrite, batch)
                batch = []
        yield from pool.map(rewrite, batch)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: write the JSONL file and print a one-line summary."""
    from tqdm import tqdm

    parser = _parser()
    args = parser.parse_args(argv)
    if args.conversations < 0:
        parser.error("--conversations must be >= 0")
    writer = None
    if args.rewrite_with_llm:
        from .llm_writer import OpenAIConversationWriter, client_from_env

        client = client_from_env(max_retries=args.llm_max_retries)
        if client is None:
            parser.error(
                "--rewrite-with-llm needs a configured client: set OPENAI_API_KEY (and optionally "
                "OPENAI_BASE_URL), or AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY "
                "(+ AZURE_OPENAI_API_VERSION)"
            )
        writer = OpenAIConversationWriter(client, model=args.rewrite_with_llm)

    started = time.perf_counter()
    records: Iterator[dict[str, Any]] = simulate(
        args.conversations, seed=args.seed, policy=make_policy(args.policy), industry=args.industry
    )
    if writer is not None:
        records = _rewritten(records, writer.rewrite, max(1, args.llm_concurrency))
    n = converted = turns = 0
    distinct: set[str] = set()
    with contextlib.ExitStack() as stack:
        out = sys.stdout if args.out == "-" else stack.enter_context(open(args.out, "w", encoding="utf-8"))
        progress = tqdm(
            records, total=args.conversations, unit="conv", file=sys.stderr, disable=args.no_progress
        )
        for record in progress:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            converted += record["converted"]
            turns += len(record["turns"])
            distinct.update(turn["text"] for turn in record["turns"])
    summary = (
        f"conversations={n} conversion_rate={converted / max(n, 1):.3f} mean_turns={turns / max(n, 1):.2f} "
        f"distinct_texts={len(distinct)} policy={args.policy} seed={args.seed} "
        f"seconds={time.perf_counter() - started:.1f} out={args.out}"
    )
    print(summary, file=sys.stderr if args.out == "-" else sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
